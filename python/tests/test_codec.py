"""The runtime's JSON conversion of handler results and decoding of request bodies."""

import datetime
import decimal
import enum
import json
import math
import uuid

import numpy as np
import pandas as pd
import pytest

from pyhost_runtime.codec import (
    RequestError, UnserializableResult, decode_csv, decode_ndjson, decode_request, encode_csv, encode_ndjson, encode_result,
)


def roundtrip(value):
    return json.loads(encode_result(value))


@pytest.mark.parametrize("value", [None, True, 0, -7, 1.5, "héllo", [], {}, [1, [2, {"a": None}]]])
def test_plain_json_values_pass_through(value):
    assert roundtrip(value) == value


def test_dataframe_becomes_records():
    frame = pd.DataFrame({"region": ["north", "south"], "total": [30.0, 5.5], "orders": [2, 1]})
    assert roundtrip(frame) == [
        {"region": "north", "total": 30.0, "orders": 2},
        {"region": "south", "total": 5.5, "orders": 1},
    ]


def test_series_becomes_an_object_from_index_to_value():
    assert roundtrip(pd.Series([1, 2], index=["a", "b"])) == {"a": 1, "b": 2}
    assert roundtrip(pd.Series([1.5], index=[3])) == {"3": 1.5}


def test_series_with_a_date_index_uses_iso_keys():
    series = pd.Series([1], index=pd.to_datetime(["2024-01-02"]))
    assert roundtrip(series) == {"2024-01-02T00:00:00": 1}


def test_numpy_scalars_become_numbers_and_booleans():
    value = {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "u": np.uint8(255)}
    assert roundtrip(value) == {"i": 3, "f": 0.5, "b": True, "u": 255}


def test_numpy_arrays_become_lists():
    assert roundtrip(np.arange(3)) == [0, 1, 2]
    assert roundtrip(np.array([[1.0, np.nan]])) == [[1.0, None]]


@pytest.mark.parametrize("missing", [float("nan"), np.nan, np.float64("nan"), pd.NaT, None, float("inf"), pd.NA])
def test_missing_values_become_null(missing):
    assert roundtrip({"x": missing}) == {"x": None}


def test_nan_inside_a_dataframe_becomes_null():
    frame = pd.DataFrame({"a": [1.0, math.nan], "when": [pd.Timestamp("2024-01-02 03:04:05"), pd.NaT]})
    assert roundtrip(frame) == [
        {"a": 1.0, "when": "2024-01-02T03:04:05"},
        {"a": None, "when": None},
    ]


def test_dates_and_times_become_iso_8601():
    value = [
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        datetime.date(2024, 1, 2),
        pd.Timestamp("2024-01-02T03:04:05.123"),
        np.datetime64("2024-01-02T03:04:05"),
    ]
    assert roundtrip(value) == [
        "2024-01-02T03:04:05+00:00",
        "2024-01-02",
        "2024-01-02T03:04:05.123000",
        "2024-01-02T03:04:05",
    ]


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


SALES = pd.DataFrame({
    "region": ["north", "north", "south", "south"],
    "product": ["a", "b", "a", "b"],
    "amount": [10.0, 20.0, 5.0, 7.5],
    "when": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-02-03", "2024-02-04"]),
})

# (what, value, JSON): each row of the README's result table, checked against pandas' own output.
CONTRACT = [
    ("groupby keeps its keys", SALES.groupby("region")["amount"].sum().to_frame(),
     [{"region": "north", "amount": 30.0}, {"region": "south", "amount": 12.5}]),
    ("describe keeps its labels", pd.DataFrame({"x": [1.0, 3.0]}).describe().loc[["count", "mean", "max"]],
     [{"index": "count", "x": 2.0}, {"index": "mean", "x": 2.0}, {"index": "max", "x": 3.0}]),
    ("a row MultiIndex becomes leading fields", SALES.groupby(["region", "product"])[["amount"]].sum().head(2),
     [{"region": "north", "product": "a", "amount": 10.0}, {"region": "north", "product": "b", "amount": 20.0}]),
    ("MultiIndex columns are joined with a dot",
     SALES.pivot_table(index="region", columns="product", values="amount", aggfunc=["sum", "count"]),
     [{"region": "north", "sum.a": 10.0, "sum.b": 20.0, "count.a": 1, "count.b": 1},
      {"region": "south", "sum.a": 5.0, "sum.b": 7.5, "count.a": 1, "count.b": 1}]),
    ("resample keeps its dates", SALES.set_index("when").resample("MS")[["amount"]].sum(),
     [{"when": "2024-01-01T00:00:00", "amount": 30.0}, {"when": "2024-02-01T00:00:00", "amount": 12.5}]),
    ("an unnamed integer index is row numbers", SALES[SALES.amount > 6][["region"]],
     [{"region": "north"}, {"region": "north"}, {"region": "south"}]),
    ("a Series with a MultiIndex nests", SALES.groupby(["region", "product"])["amount"].sum(),
     {"north": {"a": 10.0, "b": 20.0}, "south": {"a": 5.0, "b": 7.5}}),
    ("pd.Index", pd.Index(["x", "y"]), ["x", "y"]),
    ("a MultiIndex as a value", pd.MultiIndex.from_tuples([("a", 1)]), [["a", 1]]),
    ("Categorical", pd.Categorical(["lo", None, "hi"]), ["lo", None, "hi"]),
    ("Period", pd.Period("2024-03", freq="M"), "2024-03"),
    ("to_period column", SALES.assign(month=SALES.when.dt.to_period("M"))[["month"]].head(1), [{"month": "2024-01"}]),
    ("Interval from pd.cut", pd.cut([1, 7], bins=[0, 5, 10])[0], {"left": 0, "right": 5, "closed": "right"}),
    ("Timedelta is seconds", pd.Timestamp("2024-01-02") - pd.Timestamp("2024-01-01 12:00"), 43200.0),
    ("timedelta is seconds", datetime.timedelta(minutes=1, microseconds=500000), 60.5),
    ("timedelta64 is seconds", np.timedelta64(3, "s"), 3.0),
    ("a missing Timedelta is null", pd.Series([pd.Timedelta("1s"), pd.NaT]).tolist(), [1.0, None]),
    ("Decimal is its exact string", decimal.Decimal("0.10"), "0.10"),
    ("set is a sorted list", {3, 1, 2}, [1, 2, 3]),
    ("frozenset", frozenset(["b", "a"]), ["a", "b"]),
    ("UUID is its string", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("Enum is its value", [Color.RED, Color.BLUE], ["red", 2]),
]


@pytest.mark.parametrize("what, value, expected", CONTRACT, ids=[row[0] for row in CONTRACT])
def test_the_result_contract(what, value, expected):
    assert roundtrip(value) == expected


def test_a_value_inside_a_frame_cell_is_converted_too():
    frame = pd.DataFrame({"span": [pd.Timedelta("90s")], "id": [uuid.UUID(int=2)], "price": [decimal.Decimal("1.5")]})
    assert roundtrip(frame) == [{"span": 90.0, "id": "00000000-0000-0000-0000-000000000002", "price": "1.5"}]


@pytest.mark.parametrize("value, path, type_name", [
    (object(), "result", "object"),
    ({"rows": [{"when": 1}, {"when": 1j}]}, 'result["rows"][1]["when"]', "complex"),
    ({"nested": [b"bytes"]}, 'result["nested"][0]', "bytes"),
    ([pd.DataFrame({"a": [object()]})], "result[0][0][\"a\"]", "object"),
    ({"k": {(1, 2): 3}}, 'result["k"]', "tuple"),
])
def test_a_value_without_json_form_names_its_path_and_type(value, path, type_name):
    with pytest.raises(UnserializableResult) as error:
        encode_result(value)
    assert str(error.value).startswith(f"{path}: ")
    assert type_name in str(error.value)


def test_duplicate_column_names_are_an_error_not_a_dropped_column():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(UnserializableResult, match=r"^result: the DataFrame has duplicate column names \['a'\]"):
        encode_result(frame)


def test_an_index_named_like_a_column_is_an_error():
    frame = pd.DataFrame({"a": [1]}, index=pd.Index(["x"], name="a"))
    with pytest.raises(UnserializableResult, match="cannot become columns"):
        encode_result(frame)


def test_duplicate_series_labels_are_an_error():
    with pytest.raises(UnserializableResult, match="duplicate index labels"):
        encode_result(pd.Series([1, 2], index=["a", "a"]))


def test_csv_keeps_the_index_by_the_same_rule():
    frame = SALES.groupby("region")[["amount"]].sum()
    assert encode_csv(frame) == "region,amount\nnorth,30.0\nsouth,12.5\n"
    assert encode_csv(SALES[["product"]].head(1)) == "product\na\n"


def test_csv_requests_become_dataframes():
    frame = decode_csv(b"region,amount\nnorth,1.5\nsouth,2\n")
    assert frame.to_dict(orient="list") == {"region": ["north", "south"], "amount": [1.5, 2.0]}


@pytest.mark.parametrize("body, line", [(b"a,b\n1,2\n3,4,5\n", 3), (b"", 1)])
def test_malformed_csv_is_a_request_error_with_the_line(body, line):
    with pytest.raises(RequestError) as error:
        decode_csv(body)
    assert (error.value.kind, error.value.fields) == ("InvalidCSV", {"line": line})


def test_ndjson_both_ways():
    assert decode_ndjson(b'{"a": 1}\n\n[2]\n') == [{"a": 1}, [2]]
    assert encode_ndjson(pd.DataFrame({"a": [1, 2]})) == b'{"a":1}\n{"a":2}\n'
    with pytest.raises(RequestError) as error:
        decode_ndjson(b'{"a": 1}\n{oops\n')
    assert error.value.fields == {"line": 2}


def test_request_bodies_decode_as_strict_json():
    assert decode_request(b'{"name": "Hugues"}') == {"name": "Hugues"}
    assert decode_request(b"null") is None
    assert decode_request("[\"é\"]".encode()) == ["é"]


@pytest.mark.parametrize("body, kind", [
    (b"", "InvalidJSON"),
    (b"  \n", "InvalidJSON"),
    (b"{bad", "InvalidJSON"),
    (b"NaN", "InvalidJSON"),
    (b"[Infinity]", "InvalidJSON"),
    (b"\xff\xfe", "InvalidUTF8"),
    (b"[" * 100_000, "InvalidJSON"),
])
def test_bad_request_bodies_are_request_errors(body, kind):
    with pytest.raises(RequestError) as error:
        decode_request(body)
    assert error.value.kind == kind
