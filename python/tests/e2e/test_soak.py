"""A short soak (python/soak.py) in the test suite: mixed load with faults, then no leak."""

import io
import sys

from server import REPO, Server

sys.path.insert(0, str(REPO / "python"))

import soak  # noqa: E402


def test_a_short_soak_is_clean(tmp_path):
    server = Server(tmp_path, "--timeout", "5")
    report = io.StringIO()
    try:
        clean = soak.soak(server.url, server.process.pid, duration=8, concurrency=6, seed=7, out=report)
    finally:
        assert server.stop() == 0
    print(report.getvalue())
    assert clean, report.getvalue()
