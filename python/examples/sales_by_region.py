"""A pandas function: total and average sales per region from a list of orders.

Request: {"orders": [{"region": "north", "amount": 120.5}, ...]}
"""

import pandas as pd


def handle(request):
    orders = pd.DataFrame(request["orders"])
    summary = (
        orders.groupby("region")["amount"]
        .agg(total="sum", average="mean", orders="count")
        .reset_index()
        .sort_values("region")
    )
    return summary
