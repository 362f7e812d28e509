"""POST /functions/{name}/invoke: results, the handler's errors, and the host's failures."""

import concurrent.futures
import json
import time

import pytest

from server import pid_alive


def deploy(server, name, source):
    reply = server.deploy(name, source)
    assert reply.status == 201, reply
    return reply.json()


def test_pandas_and_numpy_results_become_json(server):
    deploy(server, "convert", """
import datetime
import numpy as np
import pandas as pd

def handle(request):
    frame = pd.DataFrame({"n": [1, 2], "x": [0.5, np.nan], "t": [pd.Timestamp("2024-05-06 07:08:09"), pd.NaT]})
    return {
        "frame": frame,
        "series": pd.Series([10, 20], index=["a", "b"]),
        "scalars": [np.int32(7), np.float64(2.5), np.bool_(False)],
        "array": np.array([1, 2, 3]),
        "when": datetime.date(2024, 5, 6),
        "missing": [None, float("nan"), pd.NaT],
    }
""")
    reply = server.invoke("convert", {})
    assert reply.status == 200
    assert reply.json() == {
        "frame": [{"n": 1, "x": 0.5, "t": "2024-05-06T07:08:09"}, {"n": 2, "x": None, "t": None}],
        "series": {"a": 10, "b": 20},
        "scalars": [7, 2.5, False],
        "array": [1, 2, 3],
        "when": "2024-05-06",
        "missing": [None, None, None],
    }


def test_a_result_json_cannot_hold_is_a_500_unserializable_result(server):
    deploy(server, "unjsonable", "def handle(request):\n    return {'s': [1j]}\n")
    reply = server.invoke("unjsonable", {})
    assert reply.status == 500
    error = reply.json()["error"]
    assert error["type"] == "UnserializableResult"
    assert error["message"] == 'result["s"][0]: a value of type complex has no JSON form'


def test_the_request_is_the_decoded_json_body(server):
    deploy(server, "echo", "def handle(request):\n    return {'type': type(request).__name__, 'value': request}\n")
    for value, type_name in [({"a": [1, 2.5]}, "dict"), ([1], "list"), ("é", "str"), (3, "int"), (None, "NoneType")]:
        assert server.invoke("echo", value).json() == {"type": type_name, "value": value}


def test_a_handler_exception_is_500_with_the_users_traceback(server):
    deploy(server, "raises", "def helper(x):\n    return x['missing']\n\ndef handle(request):\n    return helper(request)\n")
    reply = server.invoke("raises", {"present": 1})
    assert reply.status == 500
    error = reply.json()["error"]
    assert (error["type"], error["message"]) == ("KeyError", "'missing'")
    # Python 3.11 marks the failing expression with a line of ^ and ~ under each source line.
    assert [line for line in error["traceback"] if line.strip(" ^~")] == [
        '  File "raises.py", line 5, in handle', "    return helper(request)",
        '  File "raises.py", line 2, in helper', "    return x['missing']",
    ]


@pytest.mark.parametrize("body, error_type", [
    (b"{not json", "InvalidJSON"),
    (b"", "InvalidJSON"),
    (b"NaN", "InvalidJSON"),
    (b'"\xff"', "InvalidUTF8"),
], ids=["malformed", "empty", "nan", "invalid-utf8"])
def test_bad_request_bodies_are_400(server, body, error_type):
    deploy(server, "strict", "def handle(request):\n    return request\n")
    reply = server.invoke("strict", raw=body)
    assert reply.status == 400
    assert reply.json()["error"]["type"] == error_type


def test_a_body_over_6_mib_is_413(server):
    deploy(server, "large", "def handle(request):\n    return len(request)\n")
    over = json.dumps("x" * (6 * 1024 * 1024))
    reply = server.invoke("large", raw=over)
    assert reply.status == 413
    assert reply.json()["error"]["type"] == "RequestTooLarge"
    under = json.dumps("x" * (6 * 1024 * 1024 - 10))
    assert server.invoke("large", raw=under).json() == 6 * 1024 * 1024 - 10


def test_an_unknown_function_is_404(server):
    reply = server.invoke("does-not-exist", {})
    assert reply.status == 404
    assert reply.json()["error"]["type"] == "FunctionNotFound"


WHOAMI = "import uuid\nWORKER = uuid.uuid4().hex\ndef handle(request):\n    return WORKER\n"


def test_consecutive_calls_reuse_the_same_warm_worker(server):
    deploy(server, "whoami", WHOAMI)
    before = set(server.settled_descendants())
    replies = [server.invoke("whoami", {}) for _ in range(20)]
    assert len({reply.json() for reply in replies}) == 1, "module state shows one worker served every call"
    pids = {int(reply.headers["Pyhost-Worker"]) for reply in replies}
    assert len(pids) == 1
    assert pids <= before, "the worker is the one the deploy left warm"
    assert set(server.descendants()) == before, "no process was created for a call"


def test_state_persists_in_a_warm_worker_between_calls(server):
    deploy(server, "counter", "count = 0\ndef handle(request):\n    global count\n    count += 1\n    return count\n")
    assert [server.invoke("counter", {}).json() for _ in range(3)] == [1, 2, 3]


def test_a_worker_that_exits_is_502_with_its_exit_code_and_is_replaced(server):
    deploy(server, "quits", "import os, uuid\nWORKER = uuid.uuid4().hex\ndef handle(request):\n    if request == 'quit':\n        os._exit(7)\n    return WORKER\n")
    before = server.invoke("quits", "pid").json()
    reply = server.invoke("quits", "quit")
    assert reply.status == 502
    error = reply.json()["error"]
    assert error["type"] == "WorkerDied"
    assert error["message"] == "the worker exited with code 7"
    after = server.invoke("quits", "pid")
    assert after.status == 200
    assert after.json() != before


def test_a_worker_killed_by_a_signal_is_502_naming_it(server):
    deploy(server, "segfaults", "import ctypes\ndef handle(request):\n    return ctypes.string_at(0)\n")
    reply = server.invoke("segfaults", {})
    assert reply.status == 502
    assert "SIGSEGV" in reply.json()["error"]["message"]


def test_a_call_past_its_deadline_is_504_and_the_worker_is_replaced(server):
    deploy(server, "slow", "import uuid\nWORKER = uuid.uuid4().hex\ndef handle(request):\n    if request == 'hang':\n        while True:\n            pass\n    return WORKER\n")
    warm = server.invoke("slow", "id")
    stuck, stuck_pid = warm.json(), int(warm.headers["Pyhost-Worker"])
    started = time.monotonic()
    reply = server.invoke("slow", "hang")
    elapsed = time.monotonic() - started
    assert reply.status == 504
    assert reply.json()["error"]["type"] == "DeadlineExceeded"
    assert 2.5 < elapsed < 15
    deadline = time.monotonic() + 5
    while pid_alive(stuck_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(stuck_pid), "the worker that overran its deadline was killed"
    fresh = server.invoke("slow", "id")
    assert fresh.status == 200 and fresh.json() != stuck


def test_fifty_concurrent_invocations_all_succeed(server):
    deploy(server, "square", "def handle(request):\n    return request * request\n")
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(lambda n: server.invoke("square", n), range(50)))
    assert [reply.status for reply in replies] == [200] * 50
    assert [reply.json() for reply in replies] == [n * n for n in range(50)]


def test_a_busy_function_grows_to_its_worker_limit(start_server):
    server = start_server("--workers-per-function", "2", "--queue-depth", "8")
    deploy(server, "nap", "import time\ndef handle(request):\n    time.sleep(0.5)\n    return 'rested'\n")
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda _: server.invoke("nap", {}), range(6)))
    assert [reply.status for reply in replies] == [200] * 6
    assert len({reply.headers["Pyhost-Worker"] for reply in replies}) == 2


def test_calls_beyond_capacity_and_queue_get_503_with_retry_after(start_server):
    server = start_server("--workers-per-function", "1", "--queue-depth", "1")
    deploy(server, "busy", "import time\ndef handle(request):\n    time.sleep(1.5)\n    return 'done'\n")
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = []
        for _ in range(3):
            futures.append(pool.submit(server.invoke, "busy", {}))
            time.sleep(0.2)
        replies = [future.result() for future in futures]
    assert [reply.status for reply in replies] == [200, 200, 503]
    assert replies[2].json()["error"]["type"] == "Saturated"
    assert replies[2].headers["Retry-After"] == "1"


def test_pipelined_requests_are_answered_in_order_whichever_path_serves_them(server):
    # Calls from programs are answered beside the router (InvokeFastPath); a health check and a
    # browser's call go through it. On one connection, sent at once, the answers keep the order.
    import socket

    server.deploy("piped", "def handle(request):\n    return {'n': request['n']}\n")
    host = f"127.0.0.1:{server.port}"

    def post(n, extra=""):
        body = json.dumps({"n": n})
        return (f"POST /functions/piped/invoke HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"{extra}Content-Length: {len(body)}\r\n\r\n{body}")

    sent = post(1) + f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n" + post(2, "Origin: http://evil.example\r\n") + post(3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(sent.encode())
        answers = connection.makefile("rb")
        replies = []
        for _ in range(4):
            status = int(answers.readline().split()[1])
            headers = {}
            while (line := answers.readline().strip()):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            replies.append((status, answers.read(int(headers["content-length"]))))
    assert [status for status, _ in replies] == [200, 200, 403, 200]
    assert json.loads(replies[0][1]) == {"n": 1} and json.loads(replies[3][1]) == {"n": 3}
    assert "status" in json.loads(replies[1][1]) and b"CrossSiteRequest" in replies[2][1]


def voluntary_switches(pid):
    """How often the process has gone to sleep waiting for something (/proc/PID/status)."""
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("voluntary_ctxt_switches:")[1].split()[0])


def test_a_warm_call_wakes_its_worker_once(server):
    # A worker blocked in read() on its socket would also be woken, for nothing, when the server
    # takes its reply: a Unix socket wakes all its waiters as its sent bytes are read.
    deploy(server, "quick", "def handle(request):\n    return request\n")
    # Past WorkerPool.callsBeforeLocality, so that each event loop has its worker.
    workers = {int(server.invoke("quick", n).headers["Pyhost-Worker"]) for n in range(150)}
    before = {pid: voluntary_switches(pid) for pid in workers}
    served = 0
    for n in range(200):
        reply = server.invoke("quick", n)
        assert reply.status == 200 and reply.json() == n
        served += int(reply.headers["Pyhost-Worker"]) in workers
    woken = sum(voluntary_switches(pid) - before[pid] for pid in workers)
    assert served >= 100 and served * 0.5 <= woken <= served * 1.2, (served, woken)
