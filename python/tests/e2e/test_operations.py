"""Versions and rollback, per-version settings, logs and invocation ids."""

import concurrent.futures
import threading

import pytest


def source(tag):
    return f"def handle(request):\n    return '{tag}'\n"


def test_versions_are_listed_with_the_serving_one(server):
    assert server.deploy("listed-versions", source("v1")).status == 201
    assert server.deploy("listed-versions", source("v2")).status == 201
    reply = server.request("GET", "/functions/listed-versions/versions")
    assert reply.status == 200
    body = reply.json()
    assert body["serving"] == 2
    assert [v["version"] for v in body["versions"]] == [1, 2]
    assert server.request("GET", "/functions/nothing-here/versions").status == 404


def test_every_versions_source_is_readable_serving_or_not(server):
    assert server.deploy("read-versions", source("v1")).status == 201
    assert server.deploy("read-versions", source("v2")).status == 201
    first = server.request("GET", "/functions/read-versions/versions/1")
    assert first.status == 200 and first.json()["version"] == 1 and first.json()["source"] == source("v1")
    assert server.request("GET", "/functions/read-versions/versions/2").json()["source"] == source("v2")
    missing = server.request("GET", "/functions/read-versions/versions/3")
    assert missing.status == 404 and missing.json()["error"]["type"] == "VersionNotFound"
    assert server.request("GET", "/functions/read-versions/versions/zero").json()["error"]["type"] == "InvalidParameter"
    assert server.request("GET", "/functions/nothing-here/versions/1").json()["error"]["type"] == "FunctionNotFound"


def test_rollback_serves_an_older_version_and_a_deploy_moves_on(server):
    for tag in ("v1", "v2"):
        assert server.deploy("rolled", source(tag)).status == 201
    reply = server.request("POST", "/functions/rolled/rollback?version=1")
    assert reply.status == 200
    assert reply.json()["version"] == 1
    assert server.invoke("rolled", {}).json() == "v1"
    assert server.request("GET", "/functions/rolled").json()["version"] == 1
    assert server.request("GET", "/functions/rolled/versions").json()["serving"] == 1
    assert server.deploy("rolled", source("v3")).json()["version"] == 3
    assert server.invoke("rolled", {}).json() == "v3"


@pytest.mark.parametrize("query, status, error_type", [
    ("version=9", 404, "VersionNotFound"), ("", 400, "InvalidParameter"), ("version=x", 400, "InvalidParameter"),
    ("version=1&force=1", 400, "InvalidParameter"),
])
def test_bad_rollbacks(server, query, status, error_type):
    server.deploy("bad-rollback", source("v1"))
    reply = server.request("POST", f"/functions/bad-rollback/rollback?{query}")
    assert (reply.status, reply.json()["error"]["type"]) == (status, error_type)


def test_a_version_can_be_invoked_directly(server):
    for tag in ("v1", "v2"):
        server.deploy("by-version", source(tag))
    assert server.request("POST", "/functions/by-version/versions/1/invoke", "{}").json() == "v1"
    assert server.request("POST", "/functions/by-version/versions/2/invoke", "{}").json() == "v2"
    assert server.invoke("by-version", {}).json() == "v2"
    reply = server.request("POST", "/functions/by-version/versions/7/invoke", "{}")
    assert (reply.status, reply.json()["error"]["type"]) == (404, "VersionNotFound")


def test_deploys_and_rollbacks_switch_without_a_failed_call(server):
    server.deploy("switching", source("v1"))
    stop = threading.Event()
    statuses = []

    def hammer():
        while not stop.is_set():
            statuses.append(server.invoke("switching", {}).status)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        callers = [pool.submit(hammer) for _ in range(4)]
        for round in range(3):
            assert server.deploy("switching", source(f"v{round + 2}")).status == 201
            assert server.request("POST", "/functions/switching/rollback?version=1").status == 200
        stop.set()
        for caller in callers:
            caller.result()
    assert statuses and set(statuses) == {200}


def test_settings_are_validated_stored_and_shown(server):
    reply = server.request("POST", "/functions/tuned?timeout=2&memory=512&concurrency=1&min_warm=1", source("t"))
    assert reply.status == 201
    shown = server.request("GET", "/functions/tuned").json()
    assert (shown["timeout_seconds"], shown["memory_mib"], shown["concurrency"], shown["min_warm"]) == (2, 512, 1, 1)
    default = server.deploy("untuned", source("u")).json()
    assert (default["memory_mib"], default["concurrency"], default["min_warm"]) == (None, None, 0)


@pytest.mark.parametrize("query", ["memory=100", "memory=lots", "concurrency=0", "min_warm=-1", "concurrency=1&min_warm=2"])
def test_bad_settings_are_400(server, query):
    reply = server.request("POST", f"/functions/badly-tuned?{query}", source("x"))
    assert (reply.status, reply.json()["error"]["type"]) == (400, "InvalidParameter")


def test_concurrency_limits_a_functions_workers(server):
    nap = "import time\ndef handle(r):\n    time.sleep(0.3)\n    return 1\n"
    assert server.request("POST", "/functions/single?concurrency=1", nap).status == 201
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: server.invoke("single", {}), range(4)))
    assert {reply.status for reply in replies} == {200}
    assert len({reply.headers["Pyhost-Worker"] for reply in replies}) == 1


def test_memory_is_a_per_version_limit(server):
    hog = "def handle(n):\n    return len(bytearray(n << 20))\n"
    assert server.request("POST", "/functions/small-memory?memory=512", hog).status == 201
    assert server.deploy("default-memory", hog).status == 201
    assert server.invoke("default-memory", 600).json() == 600 << 20
    reply = server.invoke("small-memory", 600)
    assert (reply.status, reply.json()["error"]["type"]) == (500, "MemoryError")


def test_min_warm_keeps_workers_loaded(start_server):
    server = start_server()
    before = server.settled_descendants()
    assert server.request("POST", "/functions/kept-warm?min_warm=2&concurrency=2", source("w")).status == 201
    after = server.settled_descendants()
    assert len(after) - len(before) == 2, "two workers loaded, the spares replaced"
    assert server.request("GET", "/healthz").json()["workers"]["idle"] == 2


PRINTER = """import logging, sys
log = logging.getLogger("printer")
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
def handle(request):
    print("hello from print")
    sys.stderr.write("to stderr\\n")
    log.info("an info line")
    if request == "fail":
        raise ValueError("boom")
    return "done"
"""


def test_logs_come_back_in_an_envelope_on_request(server):
    assert server.deploy("printer", PRINTER).status == 201
    plain = server.invoke("printer", {})
    assert plain.json() == "done"
    invocation_id = plain.headers["Pyhost-Invocation-Id"]
    assert len(invocation_id) == 16
    reply = server.request("POST", "/functions/printer/invoke?logs=true", "{}")
    body = reply.json()
    assert reply.status == 200
    assert body["result"] == "done" and body["error"] is None and body["version"] == 1
    assert body["logs"] == "hello from print\nto stderr\nINFO an info line\n"
    assert body["invocation_id"] == reply.headers["Pyhost-Invocation-Id"]
    failed = server.request("POST", "/functions/printer/invoke?logs=true", '"fail"')
    assert failed.status == 500
    assert failed.json()["error"]["type"] == "ValueError" and failed.json()["result"] is None
    assert "hello from print" in failed.json()["logs"]
    assert server.request("POST", "/functions/printer/invoke?logs=maybe", "{}").status == 400


def test_recent_invocations_are_kept_newest_first(server):
    assert server.deploy("journal", PRINTER).status == 201
    ids = [server.invoke("journal", {}).headers["Pyhost-Invocation-Id"] for _ in range(2)]
    ids.append(server.invoke("journal", "fail").headers["Pyhost-Invocation-Id"])
    reply = server.request("GET", "/functions/journal/logs")
    assert reply.status == 200
    invocations = reply.json()["invocations"]
    assert [entry["invocation_id"] for entry in invocations[:3]] == ids[::-1]
    assert [entry["status"] for entry in invocations[:3]] == [500, 200, 200]
    assert "hello from print" in invocations[0]["logs"]
    assert all(entry["version"] == 1 and entry["milliseconds"] >= 0 for entry in invocations)


def test_the_log_history_is_bounded(start_server):
    server = start_server("--log-history", "3")
    server.deploy("bounded", PRINTER)
    for _ in range(5):
        server.invoke("bounded", {})
    assert len(server.request("GET", "/functions/bounded/logs").json()["invocations"]) == 3


def test_host_failures_carry_the_invocation_id_too(server):
    server.deploy("crasher", "import os\ndef handle(r):\n    os._exit(1)\n")
    reply = server.invoke("crasher", {})
    assert reply.status == 502
    failure_id = reply.headers["Pyhost-Invocation-Id"]
    logged = server.request("GET", "/functions/crasher/logs").json()["invocations"][0]
    assert (logged["invocation_id"], logged["status"]) == (failure_id, 502)
