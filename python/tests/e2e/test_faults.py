"""Faults: the zygote dying, the store being killed mid-write, a corrupt store, abandoned calls,
and stops with calls in flight."""

import os
import pathlib
import signal
import socket
import sqlite3
import threading
import time

from server import Server, pid_alive, run_to_exit, wait_until

SLEEPY = "import time\ndef handle(request):\n    time.sleep(request)\n    return 'slept'\n"
HELLO = "def handle(request):\n    return 'hello'\n"


def zygote_pid(server):
    return server.descendants()[0]


def test_the_zygote_dying_fails_calls_in_flight_then_everything_recovers(tmp_path):
    server = Server(tmp_path)
    try:
        assert server.deploy("sleepy", SLEEPY).status == 201
        assert server.deploy("hello", HELLO).status == 201
        old_zygote = zygote_pid(server)
        in_flight = {}
        call = threading.Thread(target=lambda: in_flight.setdefault("reply", server.invoke("sleepy", 5)))
        call.start()
        time.sleep(0.5)
        os.kill(old_zygote, signal.SIGKILL)
        call.join(timeout=10)
        reply = in_flight["reply"]
        assert reply.status == 502
        assert reply.json()["error"]["type"] == "WorkerDied"
        assert "zygote" in reply.json()["error"]["message"]

        def healthy():
            reply = server.request("GET", "/healthz")
            return reply.status == 200 and reply.json()["status"] == "ok"

        assert wait_until(healthy), "the server restarts the zygote by itself"
        assert zygote_pid(server) != old_zygote
        assert not pid_alive(old_zygote)
        assert server.invoke("hello", {}).json() == "hello"
        assert server.deploy("after", HELLO).status == 201
        assert server.invoke("after", {}).json() == "hello"
    finally:
        assert server.stop() == 0


def test_a_kill_9_right_after_a_201_loses_nothing(tmp_path):
    server = Server(tmp_path)
    versions = [server.deploy("durable", f"def handle(r):\n    return {n}\n").json()["version"] for n in range(5)]
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    server.log.close()
    assert versions == [1, 2, 3, 4, 5]
    again = Server(tmp_path)
    try:
        assert again.request("GET", "/functions/durable").json()["version"] == 5
        assert again.invoke("durable", {}).json() == 4
    finally:
        assert again.stop() == 0


def test_a_corrupt_store_stops_the_start_with_a_clear_error(tmp_path):
    store = pathlib.Path(tmp_path) / "pyhost.sqlite"
    store.write_bytes(b"this is not a database" * 100)
    code, output = run_to_exit(tmp_path)
    assert code == 1
    assert "pyhost.sqlite" in output and "cannot be used" in output
    assert store.read_bytes().startswith(b"this is not a database"), "nothing was overwritten"


def test_an_unreadable_table_is_reported_too(tmp_path):
    Server(tmp_path).stop()
    with sqlite3.connect(pathlib.Path(tmp_path) / "pyhost.sqlite") as db:
        db.execute("DROP TABLE function_versions")
        db.execute("CREATE TABLE function_versions (x)")
    code, output = run_to_exit(tmp_path)
    assert code == 1
    assert "cannot be used" in output


def test_a_client_that_disconnects_mid_call_leaks_nothing(tmp_path):
    server = Server(tmp_path, "--workers-per-function", "1", "--queue-depth", "4")
    try:
        assert server.deploy("sleepy", SLEEPY).status == 201
        server.invoke("sleepy", 0)
        before_processes = len(server.settled_descendants())
        before_fds = server.live_descriptors()
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port)) as client:
                body = b"1"
                client.sendall(b"POST /functions/sleepy/invoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                time.sleep(0.1)
        started = time.monotonic()
        assert server.invoke("sleepy", 0).json() == "slept", "the queue is not wedged"
        assert time.monotonic() - started < 10
        assert len(server.settled_descendants()) == before_processes
        assert wait_until(lambda: server.live_descriptors() <= before_fds), f"{server.live_descriptors()} descriptors, {before_fds} before"
    finally:
        assert server.stop() == 0


def test_sigterm_lets_calls_in_flight_finish(tmp_path):
    server = Server(tmp_path)
    assert server.deploy("sleepy", SLEEPY).status == 201
    children = server.descendants()
    result = {}
    call = threading.Thread(target=lambda: result.setdefault("reply", server.invoke("sleepy", 1.5)))
    call.start()
    time.sleep(0.4)
    server.process.send_signal(signal.SIGTERM)
    call.join(timeout=20)
    assert result["reply"].status == 200 and result["reply"].json() == "slept"
    assert server.process.wait(timeout=20) == 0
    server.log.close()
    assert wait_until(lambda: not any(pid_alive(pid) for pid in children), timeout=5)
