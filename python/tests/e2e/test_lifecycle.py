"""Listing, showing, redeploying and deleting functions; health; restarts and clean stops."""

import os
import signal
import socket
import time

import pytest

from server import Server, pid_alive, run_to_exit

HELLO_V1 = "def handle(request):\n    return 'v1'\n"
HELLO_V2 = "import os\ndef handle(request):\n    return 'v2'\n"
WHOAMI = "import os\ndef handle(request):\n    return os.getpid()\n"


def test_list_and_show_functions(server):
    assert server.deploy("listed", HELLO_V1).status == 201
    listed = {f["name"]: f for f in server.request("GET", "/functions").json()["functions"]}
    assert listed["listed"]["version"] == 1
    assert listed["listed"]["invoke_url"] == "/functions/listed/invoke"
    assert "created_at" in listed["listed"]
    shown = server.request("GET", "/functions/listed")
    assert shown.status == 200
    assert shown.json()["source"] == HELLO_V1
    assert shown.json()["version"] == 1
    assert server.request("GET", "/functions/unknown").json()["error"]["type"] == "FunctionNotFound"


def test_a_redeploy_creates_a_new_version_that_serves_at_once(server):
    assert server.deploy("versioned", HELLO_V1).json()["version"] == 1
    assert server.invoke("versioned", {}).json() == "v1"
    second = server.deploy("versioned", HELLO_V2).json()
    assert second["version"] == 2
    assert server.invoke("versioned", {}).json() == "v2"
    assert server.request("GET", "/functions/versioned").json()["source"] == HELLO_V2


def test_delete_removes_the_function_and_retires_its_workers(server):
    assert server.deploy("doomed", WHOAMI).status == 201
    pid = int(server.invoke("doomed", {}).headers["Pyhost-Worker"])
    assert pid_alive(pid)
    reply = server.request("DELETE", "/functions/doomed")
    assert (reply.status, reply.body) == (204, b"")
    assert server.invoke("doomed", {}).status == 404
    assert server.request("GET", "/functions/doomed").status == 404
    assert server.request("DELETE", "/functions/doomed").status == 404
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)


def test_healthz_reports_versions_workers_and_sandbox_layers(server):
    server.deploy("healthy", HELLO_V1)
    health = server.request("GET", "/healthz").json()
    assert health["status"] == "ok"
    assert health["python"].startswith("3.11")
    assert health["pandas"].count(".") == 2
    assert health["workers"]["live"] >= 1
    assert set(health["workers"]) == {"live", "idle", "busy", "waiting_calls", "spare"}
    assert {"seccomp", "no_new_privs", "not_dumpable"} <= set(health["sandbox_layers"])


def test_unknown_routes_get_json_errors(server):
    reply = server.request("GET", "/nothing-here")
    assert reply.status == 404
    assert reply.json()["error"]["type"] == "NotFound"


def test_functions_survive_a_restart(tmp_path):
    first = Server(tmp_path)
    deployed = first.deploy("durable", HELLO_V1).json()
    first.deploy("durable", HELLO_V2)
    assert first.stop() == 0
    second = Server(tmp_path)
    try:
        shown = second.request("GET", "/functions/durable").json()
        assert shown["version"] == 2
        assert shown["source"] == HELLO_V2
        assert second.invoke("durable", {}).json() == "v2"
        assert second.deploy("durable", HELLO_V1).json()["version"] == 3
        assert deployed["created_at"] < shown["created_at"]
    finally:
        assert second.stop() == 0


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_stop_signal_stops_cleanly_leaving_no_process(tmp_path, stop_signal):
    server = Server(tmp_path)
    server.deploy("one", WHOAMI)
    server.deploy("two", WHOAMI)
    server.invoke("one", {})
    children = server.descendants()
    assert len(children) >= 3, "the zygote and two workers"
    assert server.stop(stop_signal) == 0
    time.sleep(0.2)
    assert [pid for pid in children if pid_alive(pid)] == []


def test_a_taken_port_fails_the_start_with_one_line_naming_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = run_to_exit(tmp_path, port=port)
    assert code == 1
    failures = [line for line in output.splitlines() if " critical " in line]
    assert len(failures) == 1, output
    assert f"cannot serve on 127.0.0.1:{port}" in failures[0]
    assert "Address already in use" in failures[0]


def test_killing_the_server_takes_the_zygote_and_workers_with_it(tmp_path):
    server = Server(tmp_path)
    server.deploy("one", WHOAMI)
    children = server.descendants()
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    deadline = time.monotonic() + 5
    while any(pid_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in children if pid_alive(pid)] == []
    server.log.close()


def test_a_deploy_takes_a_warm_spare_and_a_new_spare_replaces_it(server):
    before = set(server.settled_descendants())
    assert server.deploy("spare-taker", WHOAMI).status == 201
    pid = int(server.invoke("spare-taker", {}).headers["Pyhost-Worker"])
    assert pid in before, "the function's worker was forked before the deploy"
    after = set(server.settled_descendants())
    assert len(after - before) == 1, "one new spare replaced it"


def test_an_idle_worker_killed_from_outside_is_replaced_without_a_failed_call(server):
    assert server.deploy("killed-idle", WHOAMI).status == 201
    pid = int(server.invoke("killed-idle", {}).headers["Pyhost-Worker"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    reply = server.invoke("killed-idle", {})
    assert reply.status == 200
    assert int(reply.headers["Pyhost-Worker"]) != pid


def test_the_openapi_document_is_served_and_covers_every_route(server):
    from server import REPO
    import json as json_module

    reply = server.request("GET", "/openapi.json")
    assert reply.status == 200
    document = reply.json()
    assert document == json_module.loads((REPO / "Sources/PyHostHTTP/Resources/openapi.json").read_text())
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/functions", "/functions/{name}", "/functions/{name}/invoke", "/functions/{name}/versions",
        "/functions/{name}/versions/{version}", "/functions/{name}/versions/{version}/invoke", "/functions/{name}/rollback", "/functions/{name}/logs",
        "/healthz", "/openapi.json", "/metrics", "/functions/{name}/access", "/keys", "/keys/{id}", "/audit",
    }


def test_a_known_path_with_another_method_is_405_with_allow(server):
    reply = server.request("PUT", "/functions/anything", "x")
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, POST, DELETE"
    assert reply.json()["error"]["type"] == "MethodNotAllowed"
    assert server.request("GET", "/functions/anything/invoke").headers["Allow"] == "POST"
