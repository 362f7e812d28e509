"""Measures how long a deploy on one node takes to serve on every node of a cluster.

Starts a real PostgreSQL, three `pyhost serve` nodes sharing it and nginx (the e2e test's
cluster), deploys a function `--deploys` times, each time on the next node, and after each 201
polls every node's GET /functions/{name} until all serve the new version. Prints p50, p99 and max.
Run it as scripts/propagation."""

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "tests" / "e2e"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--deploys", type=int, default=50)
    arguments = parser.parse_args()
    os.environ["PYHOST_BIN"] = arguments.binary
    from cluster import Cluster  # noqa: E402 (PYHOST_BIN is read at import)

    with tempfile.TemporaryDirectory() as root:
        cluster = Cluster(root)
        try:
            seconds = []
            for index in range(arguments.deploys):
                node = cluster.nodes[index % len(cluster.nodes)]
                reply = node.deploy("measured", f"def handle(request):\n    return {index}\n")
                assert reply.status == 201, reply
                waited = cluster.wait_served("measured", reply.json()["version"], timeout=5)
                assert waited is not None, f"deploy {index + 1} did not reach every node within 5 s"
                seconds.append(waited)
        finally:
            cluster.stop()
    milliseconds = sorted(1000 * value for value in seconds)
    p99 = milliseconds[min(len(milliseconds) - 1, round(0.99 * (len(milliseconds) - 1)))]
    print(f"deploys: {len(milliseconds)} on 3 nodes, from the 201 to every node serving the new version")
    print(f"p50 {statistics.median(milliseconds):.1f} ms   p99 {p99:.1f} ms   max {milliseconds[-1]:.1f} ms")


if __name__ == "__main__":
    main()
