"""Per-function deadlines, every size limit, and worker recycling."""

import json
import time

import pytest

from server import pid_alive

WHOAMI = "import uuid\nWORKER = uuid.uuid4().hex\ndef handle(request):\n    return WORKER\n"


def test_a_per_function_timeout_overrides_the_default(server):
    source = "import time\ndef handle(request):\n    time.sleep(request)\n    return 'done'\n"
    reply = server.request("POST", "/functions/quick-deadline?timeout=0.5", source)
    assert reply.status == 201
    assert reply.json()["timeout_seconds"] == 0.5
    assert server.request("GET", "/functions/quick-deadline").json()["timeout_seconds"] == 0.5
    assert server.invoke("quick-deadline", 0.1).json() == "done"
    started = time.monotonic()
    reply = server.invoke("quick-deadline", 2)
    assert reply.status == 504
    assert reply.json()["error"]["timeout_seconds"] == "0.5"
    assert time.monotonic() - started < 1.8, "the function's own deadline, not the server's 3 s"


def test_without_a_timeout_the_server_default_applies(server):
    reply = server.deploy("default-deadline", "def handle(r):\n    return 1\n")
    assert reply.json()["timeout_seconds"] is None


@pytest.mark.parametrize("query", ["timeout=0", "timeout=-1", "timeout=301", "timeout=abc", "timeout=nan", "timout=5"])
def test_bad_deploy_parameters_are_400(server, query):
    reply = server.request("POST", f"/functions/bad-params?{query}", "def handle(r):\n    return 1\n")
    assert reply.status == 400
    assert reply.json()["error"]["type"] == "InvalidParameter"
    assert server.request("GET", "/functions/bad-params").status == 404


def test_a_handler_that_ignores_sigterm_is_killed_at_its_deadline(server):
    source = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "def handle(request):\n    while True:\n        time.sleep(1)\n")
    assert server.request("POST", "/functions/stubborn?timeout=0.5", source).status == 201
    before = set(server.settled_descendants())
    reply = server.invoke("stubborn", {})
    assert reply.status == 504
    stuck = int(reply.headers["Pyhost-Worker"]) if "Pyhost-Worker" in reply.headers else None
    gone = [pid for pid in before if not pid_alive(pid)]
    deadline = time.monotonic() + 5
    while not gone and time.monotonic() < deadline:
        time.sleep(0.05)
        gone = [pid for pid in before if not pid_alive(pid)]
    assert len(gone) == 1, "the worker past its deadline was killed (SIGKILL: a worker is pid 1 of its namespace)"
    assert stuck is None or stuck == gone[0]


def test_a_result_over_the_response_limit_is_an_error_naming_it_and_the_worker_survives(start_server):
    server = start_server("--max-response-bytes", "1000")
    source = "import uuid\nWORKER = uuid.uuid4().hex\ndef handle(n):\n    return 'x' * n if n else WORKER\n"
    assert server.deploy("big-result", source).status == 201
    worker = server.invoke("big-result", 0).json()
    assert server.invoke("big-result", 900).status == 200
    reply = server.invoke("big-result", 5000)
    assert reply.status == 500
    error = reply.json()["error"]
    assert (error["type"], error["limit"]) == ("ResponseTooLarge", 1000)
    assert "--max-response-bytes" in error["message"]
    assert server.invoke("big-result", 0).json() == worker


def test_the_request_and_source_limits_are_flags(start_server):
    server = start_server("--max-request-bytes", "100", "--max-source-bytes", "200")
    assert server.deploy("small", "def handle(r):\n    return len(r)\n").status == 201
    assert server.invoke("small", "x" * 50).json() == 50
    reply = server.invoke("small", "x" * 200)
    assert (reply.status, reply.json()["error"]["limit"]) == (413, 100)
    reply = server.deploy("too-long", "# " + "x" * 300 + "\ndef handle(r):\n    return 1\n")
    assert (reply.status, reply.json()["error"]["type"]) == (413, "SourceTooLarge")


def test_an_exception_with_a_huge_message_is_truncated_not_fatal(server):
    source = "import uuid\nWORKER = uuid.uuid4().hex\ndef handle(r):\n    if r:\n        raise ValueError('y' * 10_000_000)\n    return WORKER\n"
    assert server.deploy("huge-message", source).status == 201
    worker = server.invoke("huge-message", False).json()
    reply = server.invoke("huge-message", True)
    assert reply.status == 500
    assert reply.json()["error"]["type"] == "ValueError"
    assert len(reply.body) < 100_000
    assert server.invoke("huge-message", False).json() == worker


def test_workers_recycle_after_their_share_of_calls(start_server):
    server = start_server("--recycle-after", "5", "--workers-per-function", "1")
    assert server.deploy("recycled", WHOAMI).status == 201
    workers = [server.invoke("recycled", {}).json() for _ in range(20)]
    assert all(reply for reply in workers)
    # Each worker serves exactly 5 calls (10 % of 5 rounds to no jitter), so 20 calls need 4 workers.
    assert [workers[i * 5:(i + 1) * 5].count(workers[i * 5]) for i in range(4)] == [5, 5, 5, 5]
    assert len(set(workers)) == 4


def test_workers_recycle_when_their_memory_grows(start_server):
    server = start_server("--recycle-rss", "200", "--workers-per-function", "1")
    source = ("import uuid\nWORKER = uuid.uuid4().hex\nhoard = []\n"
              "def handle(r):\n    hoard.append(bytearray(4 << 20))\n    hoard[-1][::4096] = b'x' * len(hoard[-1][::4096])\n    return WORKER\n")
    assert server.deploy("grower", source).status == 201
    workers = [server.invoke("grower", {}).json() for _ in range(64 * 3)]
    assert len(set(workers)) >= 2, "the worker retired once its RSS passed 200 MiB"
