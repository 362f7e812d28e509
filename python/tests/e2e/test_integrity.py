"""Integrity: deletes, redeploys and rollbacks racing starts and calls never crash the server, never
serve deleted code, and never leave it spinning; overload is refused promptly."""

import concurrent.futures
import hashlib
import os
import signal
import threading
import time

import pytest

from server import pid_alive, wait_until


def slow_module(marker, import_seconds):
    return f"import time\ntime.sleep({import_seconds})\ndef handle(request):\n    return {marker!r}\n"


def fast_module(marker):
    return f"def handle(request):\n    return {marker!r}\n"


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sha256(source):
    return hashlib.sha256(source.encode()).hexdigest()


def test_a_worker_starting_for_a_deleted_function_never_serves_its_successor(start_server):
    server = start_server()
    # min_warm=2 starts a second worker, which imports for 2 s while the function is deleted and
    # deployed again under the same name, with version numbers starting again at 1.
    assert server.deploy("twin?min_warm=2&concurrency=2", slow_module("deleted", 2)).status == 201
    assert server.request("DELETE", "/functions/twin").status == 204
    assert server.deploy("twin", fast_module("current")).status == 201
    answers = set()
    deadline = time.monotonic() + 4
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        while time.monotonic() < deadline:
            answers |= {reply.json() for reply in pool.map(lambda _: server.invoke("twin", {}), range(2))}
    assert answers == {"current"}


def test_a_rollback_racing_a_delete_and_redeploy_never_serves_the_deleted_version(start_server):
    server = start_server()
    assert server.deploy("turn", slow_module("deleted v1", 2)).status == 201
    assert server.deploy("turn", fast_module("deleted v2")).status == 201
    rollback = {}
    racer = threading.Thread(
        target=lambda: rollback.setdefault("reply", server.request("POST", "/functions/turn/rollback?version=1")))
    racer.start()
    time.sleep(0.5)  # the rollback is loading the old version 1 (2 s)
    assert server.request("DELETE", "/functions/turn").status == 204
    fresh = fast_module("fresh")
    assert server.deploy("turn", fresh).status == 201
    racer.join(timeout=30)
    assert rollback["reply"].status == 404
    assert rollback["reply"].json()["error"]["type"] == "VersionNotFound"
    shown = server.request("GET", "/functions/turn").json()
    versions = server.request("GET", "/functions/turn/versions").json()
    assert shown["sha256"] == sha256(fresh)
    assert versions["serving"] == 1 and [v["sha256"] for v in versions["versions"]] == [sha256(fresh)]
    assert server.invoke("turn", {}).json() == "fresh"


def test_evicting_and_expiring_a_redeployed_functions_workers_never_crashes_the_server(start_server):
    server = start_server("--max-workers", "3", "--idle-timeout", "2")
    assert server.deploy("churn?min_warm=2&concurrency=2", slow_module("deleted", 2)).status == 201
    assert server.request("DELETE", "/functions/churn").status == 204
    assert server.deploy("churn", "import time\ndef handle(seconds):\n    time.sleep(seconds)\n    return 'ok'\n").status == 201
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        running = pool.submit(server.invoke, "churn", 1.5)
        for name in ["first", "second", "third"]:
            assert server.deploy(name, fast_module(name)).status == 201
            assert server.invoke(name, {}).json() == name
        assert running.result().status == 200
    time.sleep(4)  # idle expiry retires what is left of every version
    assert server.process.poll() is None, "the server is alive"
    assert server.request("GET", "/healthz").status == 200
    assert server.invoke("churn", 0).json() == "ok"


def test_deleting_a_function_while_its_workers_start_leaves_the_server_idle(start_server):
    server = start_server()
    assert server.deploy("spin?min_warm=2&concurrency=2", slow_module("gone", 1)).status == 201
    assert server.request("DELETE", "/functions/spin").status == 204
    time.sleep(2)  # the start in progress ends, for a function that no longer exists
    before = cpu_seconds(server.process.pid)
    time.sleep(3)
    assert cpu_seconds(server.process.pid) - before < 1.0, "no start loop burns the server's CPU"
    assert server.request("GET", "/functions/spin").status == 404


def test_idle_workers_killed_from_outside_are_never_handed_to_a_call(start_server):
    server = start_server()
    assert server.deploy("victim?concurrency=2", "import time\ndef handle(s):\n    time.sleep(s)\n    return 'ok'\n").status == 201
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(lambda _: server.invoke("victim", 0.3), range(2)))
    pids = {int(reply.headers["Pyhost-Worker"]) for reply in replies}
    assert len(pids) == 2
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    # Dead, but the server not told yet: it learns of a death from its channel, asynchronously.
    assert wait_until(lambda: not any(pid_alive(pid) for pid in pids), interval=0.001)
    statuses = [server.invoke("victim", 0).status for _ in range(6)]
    assert statuses == [200] * 6


def test_overload_is_answered_with_results_or_prompt_503s(start_server):
    server = start_server("--timeout", "2", "--workers-per-function", "2")
    assert server.deploy("nap", "import time\ndef handle(r):\n    time.sleep(0.5)\n    return 'rested'\n").status == 201
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        assert {r.status for r in pool.map(lambda _: server.invoke("nap", {}), range(2))} == {200}
    barrier = threading.Barrier(128)

    def call(_):
        barrier.wait()
        started = time.monotonic()
        reply = server.invoke("nap", {})
        return reply, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(max_workers=128) as pool:
        results = list(pool.map(call, range(128)))
    statuses = [reply.status for reply, _ in results]
    assert set(statuses) <= {200, 503}, f"only results and refusals: {sorted(set(statuses))}"
    assert statuses.count(200) >= 4
    refused = [(reply, seconds) for reply, seconds in results if reply.status == 503]
    assert all(reply.json()["error"]["type"] == "Saturated" and int(reply.headers["Retry-After"]) >= 1
               for reply, _ in refused)
    assert max(seconds for _, seconds in refused) < 2, "refusals come before the deadline, not at it"


def test_a_thread_left_spinning_after_a_call_ends_its_worker(start_server):
    server = start_server()
    source = ("import threading, uuid\nWORKER = uuid.uuid4().hex\n"
              "def spin():\n    while True:\n        pass\n"
              "def handle(request):\n    if request == 'spin':\n"
              "        threading.Thread(target=spin, daemon=True).start()\n    return WORKER\n")
    assert server.deploy("leaky", source).status == 201
    reply = server.invoke("leaky", "spin")
    spinning = int(reply.headers["Pyhost-Worker"])
    assert wait_until(lambda: not pid_alive(spinning), timeout=20), "the idle worker burning CPU was ended"
    fresh = server.invoke("leaky", "id")
    assert fresh.status == 200 and fresh.json() != reply.json()


def test_a_version_that_no_longer_loads_is_the_same_422_for_a_rollback_and_a_call(start_server):
    server = start_server()
    expiring = f"import time\nif time.time() > {time.time() + 1.0}:\n    raise RuntimeError('too late')\ndef handle(r):\n    return 1\n"
    assert server.deploy("expiring", expiring).status == 201
    time.sleep(1.5)
    assert server.deploy("expiring", fast_module("second")).status == 201
    rollback = server.request("POST", "/functions/expiring/rollback?version=1")
    call = server.request("POST", "/functions/expiring/versions/1/invoke", "{}")
    for reply in (rollback, call):
        assert reply.status == 422
        assert reply.json()["error"]["type"] == "ImportCrashed"
        assert "version 1 no longer loads: RuntimeError: too late" in reply.json()["error"]["message"]
    assert server.invoke("expiring", {}).json() == "second"


def test_deleting_a_function_lets_its_calls_in_flight_finish(start_server):
    server = start_server()
    assert server.deploy("brief", "import time\ndef handle(s):\n    time.sleep(s)\n    return 'done'\n").status == 201
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(server.invoke, "brief", 1.5)
        time.sleep(0.5)
        assert server.request("DELETE", "/functions/brief").status == 204
        reply = in_flight.result()
    assert (reply.status, reply.json()) == (200, "done")
    worker = int(reply.headers["Pyhost-Worker"])
    assert wait_until(lambda: not pid_alive(worker)), "its worker retires once the call ended"
    assert server.invoke("brief", 0).status == 404


@pytest.mark.parametrize("versions_before", [1, 2], ids=["same-number", "higher-number"])
def test_a_call_that_outlives_its_function_is_not_recorded_under_its_successor(start_server, versions_before):
    server = start_server()
    for _ in range(versions_before):
        assert server.deploy("reborn", "import time\ndef handle(s):\n    time.sleep(s)\n    return 'old'\n").status == 201
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(server.invoke, "reborn", 1.5)
        time.sleep(0.5)
        assert server.request("DELETE", "/functions/reborn").status == 204
        assert server.deploy("reborn", fast_module("new")).json()["version"] == 1
        assert in_flight.result().json() == "old"
    assert server.request("GET", "/functions/reborn/logs").json()["invocations"] == []
    served = server.invoke("reborn", {})
    logs = server.request("GET", "/functions/reborn/logs").json()["invocations"]
    assert [record["invocation_id"] for record in logs] == [served.headers["Pyhost-Invocation-Id"]]


def test_deploy_settings_cannot_ask_for_more_workers_than_the_operator_allows(start_server):
    server = start_server("--workers-per-function", "2", "--max-workers", "3")
    for query in ("concurrency=3", "min_warm=3", "concurrency=256"):
        reply = server.deploy(f"greedy?{query}", fast_module("greedy"))
        assert reply.status == 400, query
        assert reply.json()["error"]["type"] == "InvalidParameter"
        assert "--workers-per-function" in reply.json()["error"]["message"]
    assert server.deploy("greedy?concurrency=2&min_warm=2", fast_module("greedy")).status == 201


def test_overload_across_functions_at_the_worker_cap_serves_each_and_kills_none(start_server):
    server = start_server("--timeout", "2", "--workers-per-function", "2", "--max-workers", "3")
    names = ["fa", "fb", "fc", "fd"]
    for name in names:
        assert server.deploy(name, "import time\ndef handle(r):\n    time.sleep(0.5)\n    return 1\n").status == 201
    barrier = threading.Barrier(64)

    def call(index):
        barrier.wait()
        return names[index % 4], server.invoke(names[index % 4], {})

    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(call, range(64)))
    assert {reply.status for _, reply in results} <= {200, 503}, "no call starts that cannot finish"
    assert {name for name, reply in results if reply.status == 200} == set(names), "no function starves"
