"""The function store failing under the server: read-only, locked by another process, full."""

import pathlib
import sqlite3

from server import Server, run_to_exit

HELLO = "def handle(request):\n    return 'hello'\n"


def in_own_mounts(script):
    """A prefix running the server in a mount namespace of its own, after `script` set it up there."""
    return ("unshare", "--mount", "sh", "-c", script + ' && exec "$0" "$@"')


def assert_no_sql(reply):
    message = reply.json()["error"]["message"]
    assert not any(word in message for word in ("SELECT", "INSERT", "DELETE FROM", "UPDATE")), message


def test_a_read_only_store_serves_reports_degraded_and_refuses_changes(tmp_path):
    first = Server(tmp_path)
    assert first.deploy("kept", HELLO).status == 201
    assert first.stop() == 0
    read_only = in_own_mounts(f"mount --bind -o ro {tmp_path} {tmp_path}")
    server = Server(tmp_path, prefix=read_only)
    try:
        health = server.request("GET", "/healthz")
        assert health.status == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["store"] == "read_only"
        assert server.invoke("kept", {}).json() == "hello"
        assert server.request("GET", "/functions/kept/versions").status == 200
        for reply in (server.deploy("kept", HELLO), server.deploy("new", HELLO),
                      server.request("POST", "/functions/kept/rollback?version=1"),
                      server.request("DELETE", "/functions/kept")):
            assert reply.status == 503, reply
            assert reply.json()["error"]["type"] == "StoreReadOnly"
            assert "Retry-After" not in reply.headers
            assert_no_sql(reply)
        assert server.invoke("kept", {}).json() == "hello"
    finally:
        assert server.stop() == 0


def test_a_writable_store_reports_so(server):
    assert server.request("GET", "/healthz").json()["store"] == "writable"


def test_a_locked_store_waits_then_answers_503_and_recovers(tmp_path):
    server = Server(tmp_path)
    try:
        assert server.deploy("locked", HELLO).status == 201
        holder = sqlite3.connect(pathlib.Path(tmp_path) / "pyhost.sqlite", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            reply = server.deploy("locked", HELLO)
            assert reply.status == 503, reply
            assert reply.json()["error"]["type"] == "StoreUnavailable"
            assert "locked" in reply.json()["error"]["message"]
            assert reply.headers["Retry-After"] == "1"
            assert_no_sql(reply)
            assert server.invoke("locked", {}).json() == "hello", "calls are served meanwhile"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert server.deploy("locked", HELLO).json()["version"] == 2
    finally:
        assert server.stop() == 0


def test_a_store_locked_at_start_fails_the_start_with_one_line(tmp_path):
    assert Server(tmp_path).stop() == 0
    holder = sqlite3.connect(pathlib.Path(tmp_path) / "pyhost.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, output = run_to_exit(tmp_path)
    finally:
        holder.close()
    assert code == 1
    failures = [line for line in output.splitlines() if " critical " in line]
    assert len(failures) == 1, output
    assert "pyhost.sqlite stayed locked by another process for 5 s" in failures[0]
    assert "BEGIN" not in failures[0]


def test_a_full_disk_answers_507_store_full_and_keeps_serving(tmp_path):
    server = Server(tmp_path, prefix=in_own_mounts(f"mount -t tmpfs -o size=512k pyhost-full {tmp_path}"))
    try:
        assert server.deploy("small", HELLO).status == 201
        large = "BLOB = '" + "x" * 900_000 + "'\n" + HELLO
        reply = server.deploy("large", large)
        assert reply.status == 507, reply
        assert reply.json()["error"]["type"] == "StoreFull"
        assert_no_sql(reply)
        assert server.invoke("small", {}).json() == "hello"
        assert server.request("GET", "/functions/large").status == 404
        # A deploy the store refuses changes no access either: the version and the access are one
        # transaction.
        assert server.deploy("small?access=private", HELLO).status == 201
        trail = server.request("GET", "/audit").json()["entries"]
        assert server.deploy("small?access=public", large).status == 507
        assert server.request("GET", "/functions/small/access").json()["access"] == "private"
        assert server.invoke("small", {}).status == 401
        assert server.request("GET", "/audit").json()["entries"] == trail, "a refused change is not in the trail"
    finally:
        assert server.stop() == 0
