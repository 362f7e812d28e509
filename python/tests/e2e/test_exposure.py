"""What reaches the server from outside its sandbox: browsers (cross-site requests, DNS rebinding,
the console's headers), anonymous slow clients, old versions, and the operator's limits."""

import resource
import select
import socket
import threading
import time

import pytest

from server import DEPLOY_TOKEN, Server, run_to_exit, wait_until

HELLO = "def handle(r):\n    return 'hello'\n"


def error_type(reply):
    return reply.status, reply.json()["error"]["type"]


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    """A server that also answers to the name pyhost.test."""
    instance = Server(tmp_path_factory.mktemp("public"), "--public-host", "pyhost.test")
    yield instance
    assert instance.stop() == 0


@pytest.mark.parametrize("host, status", [
    ("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("[::1]:{port}", 200), ("10.1.2.3", 200),
    ("pyhost.test", 200), ("evil.example:{port}", 421), ("127.0.0.1.evil.example", 421), ("localhost.evil.example:{port}", 421),
])
def test_only_addresses_localhost_and_public_hosts_are_answered(public, host, status):
    reply = public.request("GET", "/healthz", headers={"Host": host.format(port=public.port)})
    assert reply.status == status, reply
    if status == 421:
        assert reply.json()["error"]["type"] == "UnknownHost"


@pytest.mark.parametrize("headers, status", [
    ({"Origin": "http://evil.example"}, 403),
    ({"Origin": "null"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Origin": "http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}, 201),
    ({}, 201),
])
def test_mutating_requests_from_another_site_are_refused(server, headers, status):
    headers = {name: value.format(port=server.port) for name, value in headers.items()}
    deployed = server.request("POST", "/functions/cross-site", HELLO, {"Content-Type": "text/plain", **headers})
    assert deployed.status == status, deployed
    for method, path in [("POST", "/functions/cross-site/invoke"), ("DELETE", "/functions/cross-site")]:
        if status == 403:
            assert error_type(server.request(method, path, "{}", headers)) == (403, "CrossSiteRequest")


def test_the_console_forbids_framing_sniffing_and_foreign_scripts(server):
    for path in ["/", "/console/app.js"]:
        headers = server.request("GET", path).headers
        policy = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy and "script-src 'self'" in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_a_version_that_does_not_serve_needs_the_deploy_token(guarded):
    configurator = {"Authorization": f"Bearer {DEPLOY_TOKEN}"}
    for source in [HELLO, "def handle(r):\n    return 'fixed'\n"]:
        assert guarded.deploy("patched", source, configurator).status == 201
    assert error_type(guarded.request("POST", "/functions/patched/versions/1/invoke", "{}")) == (401, "Unauthorized")
    assert guarded.request("POST", "/functions/patched/versions/1/invoke", "{}", configurator).json() == "hello"
    assert guarded.request("POST", "/functions/patched/versions/2/invoke", "{}").json() == "fixed"


@pytest.mark.parametrize("query, reason", [
    ("memory=2048", "must be a whole number of MiB in 384...1024, not \"2048\""),
    ("timeout=1e-9", "must be a number of seconds in [0.01, 300], not \"1e-9\""),
])
def test_deploy_settings_stay_within_the_operators_limits(server, query, reason):
    reply = server.request("POST", f"/functions/greedy?{query}", HELLO)
    assert error_type(reply) == (400, "InvalidParameter")
    assert reply.json()["error"]["message"].endswith(reason)


def test_a_host_name_is_not_loopback_without_a_token(tmp_path):
    code, output = run_to_exit(tmp_path, "--host", "127.evil.example")
    assert code != 0 and "set --deploy-token or PYHOST_DEPLOY_TOKEN" in output


def test_healthz_answers_while_slow_clients_hold_more_connections_than_descriptors(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    server = Server(tmp_path, prefix=("prlimit", "--nofile=1024:1024"))
    slow = []
    try:
        for _ in range(1100):
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(connection)
        started = time.monotonic()
        reply = server.request("GET", "/healthz", timeout=5)
        assert reply.status == 200 and time.monotonic() - started < 5
    finally:
        for connection in slow:
            connection.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert server.stop() == 0


def send_head(server, length):
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    connection.sendall(
        f"POST /functions/held/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\n".encode())
    return connection


def read_answer(connection):
    """A whole HTTP answer: its head, and as much body as Content-Length says (it may come in parts)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < content_length(data):
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def content_length(data):
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_bodies_held_at_once_stay_within_a_host_wide_budget(server):
    assert server.deploy("held", "def handle(r):\n    return len(r)\n").status == 201
    # Announcing a body holds nothing of the budget: only the bytes received do.
    announced = [send_head(server, 6 << 20) for _ in range(40)]
    try:
        assert server.invoke("held", [1, 2]).json() == 2
    finally:
        for connection in announced:
            connection.close()
    # 21 bodies of 6 MiB, all but their last byte sent, hold 126 MiB of the 128 MiB budget.
    held = [send_head(server, 6 << 20) for _ in range(21)]
    try:
        for connection in held:
            connection.sendall(b"0" * ((6 << 20) - 1))
        # Charged once read: wait until the server has read every byte sent (its receive queues
        # empty), or a probe could take the room of bytes still in flight.
        ports = {connection.getsockname()[1] for connection in held}
        assert wait_until(lambda: unread_by_server(server.port, ports) == 0, timeout=20), "the server stopped reading"
        assert server.invoke("held", [1, 2]).json() == 2, "a small body still fits"
        answered = [unread_answer(connection) for connection in held]
        assert not any(answered), f"held requests were answered before their last byte: {answered}"
        deadline = time.monotonic() + 20
        while True:
            answer = post_unanswered_body(server, 3 << 20)
            if answer.startswith("HTTP/1.1 503"):
                break
            assert time.monotonic() < deadline, f"a 3 MiB body was not refused: {answer[:200]!r}"
        assert "retry-after: 1" in answer.lower() and '"type":"Busy"' in answer
    finally:
        for connection in held:
            connection.close()
    deadline = time.monotonic() + 20
    # Just under 6 MiB: it fits only once the held requests have given their bytes back.
    large = b"[" + b"0," * ((3 << 20) - 2) + b"0]"
    while server.request("POST", "/functions/held/invoke", large).status != 200:
        assert time.monotonic() < deadline, "the budget is given back when the held requests end"
        time.sleep(0.1)


def unread_by_server(port, client_ports):
    """Bytes from `client_ports` waiting in the receive queues of the server's sockets on `port`
    (/proc/net/tcp, local and remote address as hex IP:port, then tx_queue:rx_queue)."""
    unread = 0
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) in client_ports:
                unread += int(queues.split(":")[1], 16)
    return unread


def unread_answer(connection):
    """What the server has answered on `connection` so far, without waiting: b"" for nothing yet."""
    timeout = connection.gettimeout()
    connection.settimeout(0)
    try:
        data = connection.recv(4096, socket.MSG_PEEK)
    except BlockingIOError:
        return b""
    finally:
        connection.settimeout(timeout)
    return data[:200] or b"(closed by the server)"


def post_unanswered_body(server, size):
    """The answer to a POST whose body of `size` bytes is sent from another thread (the server may
    answer, and stop reading, before it is all sent)."""
    connection = send_head(server, size)
    sender = threading.Thread(target=lambda: suppress_oserror(connection.sendall, b"0" * size), daemon=True)
    sender.start()
    try:
        return read_answer(connection)
    finally:
        connection.close()


def suppress_oserror(call, *arguments):
    try:
        call(*arguments)
    except OSError:
        pass


@pytest.mark.parametrize("framing", ["Content-Length: 1000000000", "Transfer-Encoding: chunked"])
def test_a_refused_upload_is_not_read_to_its_end(server, framing):
    """An answer sent before the body ended (here 413) closes the connection: a client cannot keep
    the server reading, and throwing away, whatever it goes on sending."""
    assert server.deploy("held", "def handle(request):\n    return 1\n").status == 201
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    connection.sendall(f"POST /functions/held/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}\r\n\r\n".encode())
    chunk = b"x" * 65536
    piece = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") if "chunked" in framing else chunk
    sent, closed, deadline = 0, False, time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            connection.sendall(piece)
            sent += len(piece)
    except OSError:
        closed = True
    finally:
        connection.close()
    assert closed, f"the server was still reading after {sent} bytes"
    assert sent < 64 * 1024 * 1024, sent
    assert server.request("GET", "/healthz").status == 200


def resident_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def stalled_reader(server):
    """A connection that asks `large` for its 6 MB answer and takes only the status line."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.sendall(b"POST /functions/large/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
    assert connection.recv(12) == b"HTTP/1.1 200"
    return connection


def test_answers_clients_do_not_read_stay_within_a_budget(server):
    """100 clients each take the head of a 6 MB answer and read no more: the server holds at most
    its 256 MiB budget of unsent answers (closing the readers that stalled longest), not 600 MB."""
    assert server.deploy("large", "def handle(request):\n    return 'x' * 6_000_000\n").status == 201
    baseline = resident_mib(server.process.pid)
    connections, peak = [], baseline
    try:
        for _ in range(100):
            connections.append(stalled_reader(server))
            peak = max(peak, resident_mib(server.process.pid))
        assert server.request("GET", "/healthz").status == 200
    finally:
        for connection in connections:
            connection.close()
    assert peak - baseline < 400, f"the server grew by {peak - baseline:.0f} MiB"


def test_clients_that_do_not_read_hold_a_stop_for_seconds_not_a_minute(tmp_path):
    """SIGTERM with answers still unread: the server stops once those clients have taken nothing
    for the stopping send timeout (5 s), not the minute a running server gives them."""
    server = Server(tmp_path)
    connections = []
    try:
        assert server.deploy("large", "def handle(request):\n    return 'x' * 6_000_000\n").status == 201
        connections += [stalled_reader(server) for _ in range(5)]
        started = time.monotonic()
        assert server.stop(timeout=30) == 0
        assert time.monotonic() - started < 20
    finally:
        for connection in connections:
            connection.close()
        server.stop()
