"""Callers: invoker keys, private functions, rate limits and the audit trail, against a server
that requires a deploy token (configurators) and serves users who hold keys or nothing."""

import http.client
import json
import subprocess
import time

import pytest

from server import BINARY, DEPLOY_TOKEN, Server, wait_until

ECHO_HEADERS = "def handle(request, context):\n    print('saw', dict(context.headers))\n    return sorted(context.headers)\n"
HELLO = "def handle(request):\n    return 'hello'\n"
CONFIGURATOR = {"Authorization": f"Bearer {DEPLOY_TOKEN}"}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    instance = Server(tmp_path_factory.mktemp("callers"), "--deploy-token", DEPLOY_TOKEN)
    for name, source in [("sales?access=private", HELLO), ("hello", HELLO), ("echo", ECHO_HEADERS)]:
        assert instance.request("POST", f"/functions/{name}", source, CONFIGURATOR).status == 201
    yield instance
    assert instance.stop() == 0


def as_user(key=None):
    return {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}


def call(host, name, key=None):
    return host.request("POST", f"/functions/{name}/invoke", "{}", as_user(key))


def make_key(host, **fields):
    reply = host.request("POST", "/keys", json.dumps(fields), {**CONFIGURATOR, "Content-Type": "application/json"})
    assert reply.status == 201, reply
    return reply.json()


def set_access(host, name, **fields):
    return host.request("PUT", f"/functions/{name}/access", json.dumps(fields), {**CONFIGURATOR, "Content-Type": "application/json"})


def error_type(reply):
    return reply.json()["error"]["type"]


def test_a_private_function_needs_a_key_that_covers_it(host):
    assert set_access(host, "sales", access="private").json() == {"access": "private", "rate_per_second": None, "allowed_origins": []}
    sales_key = make_key(host, functions=["sales"])
    other_key = make_key(host, functions=["hello"])
    anonymous = call(host, "sales")
    assert (anonymous.status, error_type(anonymous)) == (401, "KeyRequired")
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    wrong = call(host, "sales", other_key["key"])
    assert (wrong.status, error_type(wrong)) == (403, "KeyNotAllowed")
    assert call(host, "sales", sales_key["key"]).json() == "hello"
    forged = call(host, "sales", sales_key["key"][:-1] + ("0" if sales_key["key"][-1] != "0" else "1"))
    assert (forged.status, error_type(forged)) == (401, "InvalidKey")
    assert host.request("POST", "/functions/sales/invoke", "{}", {**CONFIGURATOR, "Content-Type": "application/json"}).status == 200
    # Public functions stay open; a key for another function does not stop them.
    assert call(host, "hello").status == 200
    assert call(host, "hello", sales_key["key"]).status == 200


def test_a_revoked_key_is_refused_at_once(host):
    key = make_key(host, functions=["sales"])
    assert call(host, "sales", key["key"]).status == 200
    assert host.request("DELETE", f"/keys/{key['id']}", headers=CONFIGURATOR).status == 204
    refused = call(host, "sales", key["key"])
    assert (refused.status, error_type(refused)) == (401, "InvalidKey")
    assert host.request("DELETE", f"/keys/{key['id']}", headers=CONFIGURATOR).status == 404


def test_keys_survive_a_restart_and_are_listed_without_their_secret(tmp_path):
    server = Server(tmp_path, "--deploy-token", DEPLOY_TOKEN, "--default-access", "private")
    try:
        assert server.request("POST", "/functions/sales", HELLO, CONFIGURATOR).status == 201
        key = make_key(server, functions=["sales"], rate_per_second=5)
        assert key["key"].startswith("pyk_") and key["id"] in key["key"]
        assert call(server, "sales").status == 401, "--default-access private"
        assert server.stop() == 0
        server = Server(tmp_path, "--deploy-token", DEPLOY_TOKEN, "--default-access", "private")
        assert call(server, "sales", key["key"]).json() == "hello"
        listed = server.request("GET", "/keys", headers=CONFIGURATOR)
        assert listed.json()["keys"] == [{k: key[k] for k in ("id", "functions", "rate_per_second", "created_at")}]
        assert key["key"] not in listed.body.decode()
    finally:
        server.stop()


def test_rate_limits_answer_429_naming_the_limit(host):
    key = make_key(host, functions=["hello"], rate_per_second=2)
    statuses = [call(host, "hello", key["key"]) for _ in range(4)]
    assert [reply.status for reply in statuses[:2]] == [200, 200]
    limited = statuses[-1]
    assert (limited.status, error_type(limited)) == (429, "RateLimited")
    assert limited.headers["Retry-After"] == "1"
    assert f"key {key['id']}: 2/s" in limited.json()["error"]["message"]
    # A function's own limit applies to every caller, keyed or not.
    assert set_access(host, "hello", access="public", rate_per_second=1).status == 200
    try:
        time.sleep(1.1)
        replies = [call(host, "hello") for _ in range(3)]
        assert replies[0].status == 200 and replies[-1].status == 429
        assert "function hello: 1/s" in replies[-1].json()["error"]["message"]
        assert wait_until(lambda: call(host, "hello").status == 200, timeout=3)
    finally:
        assert set_access(host, "hello", access="public").status == 200
    metrics = host.request("GET", "/metrics").body.decode()
    assert f'pyhost_rate_limited_total{{function="hello",key="{key["id"]}"}}' in metrics
    assert 'pyhost_rate_limited_total{function="hello",key=""}' in metrics


def test_keys_never_reach_handlers_logs_metrics_or_errors(host):
    key = make_key(host)
    reply = host.request("POST", "/functions/echo/invoke", "{}", as_user(key["key"]))
    assert reply.status == 200 and "authorization" not in reply.json()
    revoked = make_key(host)
    host.request("DELETE", f"/keys/{revoked['id']}", headers=CONFIGURATOR)
    refused = call(host, "hello", revoked["key"])
    everything = "".join([
        host.request("GET", "/functions/echo/logs", headers=CONFIGURATOR).body.decode(),
        host.request("GET", "/metrics").body.decode(),
        host.request("GET", "/audit", headers=CONFIGURATOR).body.decode(),
        host.request("GET", "/keys", headers=CONFIGURATOR).body.decode(),
        refused.body.decode(),
        host.log_path.read_text(errors="replace"),
    ])
    for secret in (key["key"], revoked["key"]):
        assert secret not in everything
        assert secret.rsplit("_", 1)[1] not in everything
    assert key["id"] in host.request("GET", "/metrics").body.decode()


def test_source_logs_and_configurator_routes_are_refused_to_invokers(host):
    key = make_key(host)
    for method, path in [("GET", "/functions/sales"), ("GET", "/functions/sales/versions/1"), ("GET", "/functions/sales/logs"),
                         ("GET", "/keys"), ("POST", "/keys"),
                         ("DELETE", f"/keys/{key['id']}"), ("GET", "/audit"), ("PUT", "/functions/sales/access")]:
        for headers in ({}, {"Authorization": f"Bearer {key['key']}"}):
            reply = host.request(method, path, "{}" if method in ("POST", "PUT") else None, headers)
            assert reply.status == 401, (method, path, reply)
    logs = host.request("POST", "/functions/hello/invoke?logs=true", "{}", as_user(key["key"]))
    assert logs.status == 401, "what a handler prints is the configurator's"
    # What callers may read: the list, the versions, a function's access.
    assert host.request("GET", "/functions").status == 200
    assert host.request("GET", "/functions/sales/versions").status == 200
    assert host.request("GET", "/functions/sales/access").json()["access"] == "private"


def test_every_change_is_in_the_audit_trail(host):
    assert host.request("POST", "/functions/audited?access=private", HELLO, CONFIGURATOR).status == 201
    assert host.request("POST", "/functions/audited", HELLO, CONFIGURATOR).status == 201
    assert host.request("POST", "/functions/audited/rollback?version=1", headers=CONFIGURATOR).status == 200
    key = make_key(host, functions=["audited"], rate_per_second=3)
    assert host.request("DELETE", f"/keys/{key['id']}", headers=CONFIGURATOR).status == 204
    assert host.request("DELETE", "/functions/audited", headers=CONFIGURATOR).status == 204
    entries = host.request("GET", "/audit?limit=7", headers=CONFIGURATOR).json()["entries"]
    assert [(e["action"], e["target"]) for e in reversed(entries)] == [
        ("access", "audited"), ("deploy", "audited"), ("deploy", "audited"), ("rollback", "audited"),
        ("key_create", key["id"]), ("key_revoke", key["id"]), ("delete", "audited")]
    assert all(e["actor"] == "token" for e in entries)
    assert entries[2]["detail"] == "functions audited, 3/s"


@pytest.mark.parametrize("path, method, body, message", [
    ("/keys", "POST", '{"functions": []}', "functions: name at least one function"),
    ("/keys", "POST", '{"functions": ["Bad"]}', None),
    ("/keys", "POST", '{"rate_per_second": 0}', "rate_per_second: must be"),
    ("/keys", "POST", '{"rate_per_second": "fast"}', "rate_per_second: has the wrong type"),
    ("/keys", "POST", '{"scope": "all"}', "scope: unknown"),
    ("/keys", "POST", "[1]", "the body must be a JSON object"),
    ("/functions/sales/access", "PUT", '{"access": "secret"}', "access: must be"),
    ("/functions/sales/access", "PUT", "{}", "access: required"),
    ("/functions/sales/access", "PUT", '{"access": "public", "rate_per_second": -1}', "rate_per_second: must be"),
    # Rates so slow that the wait they name would not fit a duration once stopped the server.
    ("/functions/sales/access", "PUT", '{"access": "private", "rate_per_second": 1e-300}', "rate_per_second: must be"),
    ("/keys", "POST", '{"rate_per_second": 1e-20}', "rate_per_second: must be"),
    ("/keys", "POST", '{"rate_per_second": 0.0009}', "rate_per_second: must be"),
])
def test_bad_bodies_are_typed_400s(host, path, method, body, message):
    reply = host.request(method, path, body, {**CONFIGURATOR, "Content-Type": "application/json"})
    assert reply.status == 400, reply
    if message:
        assert (error_type(reply), message in reply.json()["error"]["message"]) == ("InvalidBody", True), reply
    assert call(host, "sales").status == 401, "the function stays private"


def cli(host, *arguments, environment=()):
    environment = {"PYHOST_URL": host.url, "PYHOST_DEPLOY_TOKEN": DEPLOY_TOKEN, "PATH": "/usr/bin:/bin", **dict(environment)}
    return subprocess.run([str(BINARY), *arguments], capture_output=True, text=True, env=environment, timeout=60)


def test_the_command_line_manages_keys_access_and_the_audit(host, tmp_path):
    (tmp_path / "report.py").write_text(HELLO)
    assert cli(host, "deploy", "report", str(tmp_path / "report.py")).returncode == 0
    made = cli(host, "access", "report", "private", "--rate", "20/s")
    assert (made.returncode, made.stdout.strip()) == (0, "report is private, at most 20/s")
    created = cli(host, "keys", "create", "--functions", "report", "--rate", "10/s")
    assert created.returncode == 0, created.stderr
    secret, note = created.stdout.strip().split("\n")
    key_id = note.split()[1].rstrip(";")
    assert secret.startswith(f"pyk_{key_id}_") and "shown once" in note
    listed = cli(host, "keys", "list").stdout
    assert key_id in listed and "report" in listed and "10/s" in listed and secret not in listed
    # The key comes from the environment or a file, never the command line.
    anonymous = cli(host, "invoke", "report", environment={"PYHOST_DEPLOY_TOKEN": ""})
    assert anonymous.returncode == 1 and "KeyRequired" in anonymous.stderr
    keyed = cli(host, "invoke", "report", environment={"PYHOST_DEPLOY_TOKEN": "", "PYHOST_KEY": secret})
    assert (keyed.returncode, keyed.stdout.strip()) == (0, '"hello"')
    (tmp_path / "key").write_text(secret + "\n")
    from_file = cli(host, "invoke", "report", "--key-file", str(tmp_path / "key"), environment={"PYHOST_DEPLOY_TOKEN": ""})
    assert (from_file.returncode, from_file.stdout.strip()) == (0, '"hello"')
    assert cli(host, "keys", "revoke", key_id).stdout.strip() == f"revoked {key_id}"
    revoked = cli(host, "invoke", "report", environment={"PYHOST_DEPLOY_TOKEN": "", "PYHOST_KEY": secret})
    assert revoked.returncode == 1 and "InvalidKey" in revoked.stderr
    audit = cli(host, "audit", "--limit", "4").stdout
    assert [line.split()[2] for line in audit.splitlines()[1:]] == ["key_revoke", "key_create", "access", "deploy"]


DASHBOARD = "https://dash.example.com"


def test_cors_lets_the_allowed_origins_call_and_no_one_else(host):
    assert set_access(host, "hello", access="public", allowed_origins=[DASHBOARD]).json() == {
        "access": "public", "rate_per_second": None, "allowed_origins": [DASHBOARD]}
    preflight = {"Origin": DASHBOARD, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type, authorization"}
    try:
        allowed = host.request("OPTIONS", "/functions/hello/invoke", headers=preflight)
        assert allowed.status == 204
        assert allowed.headers["Access-Control-Allow-Origin"] == DASHBOARD
        assert allowed.headers["Access-Control-Allow-Methods"] == "POST"
        assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
        assert "Origin" in allowed.headers["Vary"]
        called = host.request("POST", "/functions/hello/invoke", "{}", {
            "Origin": DASHBOARD, "Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"})
        assert (called.status, called.json()) == (200, "hello")
        assert called.headers["Access-Control-Allow-Origin"] == DASHBOARD
        assert "Pyhost-Invocation-Id" in called.headers["Access-Control-Expose-Headers"]
        # Errors reach the page too, so it can show them.
        failed = host.request("POST", "/functions/hello/invoke", "{", {"Origin": DASHBOARD, "Content-Type": "application/json"})
        assert failed.status == 400 and failed.headers["Access-Control-Allow-Origin"] == DASHBOARD

        evil = "https://evil.example.com"
        refused = host.request("OPTIONS", "/functions/hello/invoke", headers={**preflight, "Origin": evil})
        assert refused.status == 403 and "Access-Control-Allow-Origin" not in refused.headers
        posted = host.request("POST", "/functions/hello/invoke", "{}", {"Origin": evil, "Content-Type": "application/json"})
        assert (posted.status, error_type(posted)) == (403, "CrossSiteRequest")
        assert "Access-Control-Allow-Origin" not in posted.headers
        # Another function, and every configurator route, stay closed to the dashboard.
        other = host.request("POST", "/functions/echo/invoke", "{}", {"Origin": DASHBOARD, "Content-Type": "application/json"})
        assert other.status == 403 and "Access-Control-Allow-Origin" not in other.headers
        for method, path in [("POST", "/functions/hello"), ("DELETE", "/functions/hello"), ("POST", "/keys"),
                             ("PUT", "/functions/hello/access")]:
            attempt = host.request(method, path, "{}", {**CONFIGURATOR, "Origin": DASHBOARD})
            assert attempt.status == 403 and "Access-Control-Allow-Origin" not in attempt.headers, (method, path)
            options = host.request("OPTIONS", path, headers=preflight)
            assert "Access-Control-Allow-Origin" not in options.headers, path
    finally:
        assert set_access(host, "hello", access="public").status == 200


@pytest.mark.parametrize("origins", [["https://dash.example.com/"], ["dash.example.com"], ["https://Dash.example.com"],
                                     ["ftp://dash.example.com"], ["https://dash.example.com/path"], ["*"],
                                     ["https://..."], ["https://[[::]]"], ["https://a.b:"], ["https://a.b:99999999"],
                                     ["https://a.b:0"], ["https://-a.b"], ["https://a..b"], ["https://dash.exämple.com"],
                                     ["https://[::1"], ["https://[fe80::zz]"], ["https://a.b:443"], ["http://a.b:080"],
                                     ["http://[0:0:0:0:0:0:0:1]"], ["http://0x7f.1"], ["http://999.999.999.999"],
                                     ["http://127.1"], ["http://010.0.0.1"]])
def test_allowed_origins_must_be_origins(host, origins):
    reply = set_access(host, "hello", access="public", allowed_origins=origins)
    assert (reply.status, error_type(reply)) == (400, "InvalidBody")
    assert "allowed_origins" in reply.json()["error"]["message"]


@pytest.mark.parametrize("origin", ["https://dash.example.com", "http://localhost:8080", "https://10.0.0.7:8443",
                                    "https://[::1]:3000", "https://[2001:db8::7]", "https://xn--exmple-cua.com"])
def test_real_origins_are_accepted(host, origin):
    try:
        assert set_access(host, "hello", access="public", allowed_origins=[origin]).json()["allowed_origins"] == [origin]
    finally:
        assert set_access(host, "hello", access="public").status == 200


def raw_call(host, name, authorizations):
    """A call with the `Authorization` fields given, each sent as it is (urllib merges duplicates)."""
    connection = http.client.HTTPConnection(host.url.removeprefix("http://"), timeout=30)
    try:
        connection.putrequest("POST", f"/functions/{name}/invoke")
        for value in authorizations:
            connection.putheader("Authorization", value)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "2")
        connection.endheaders(b"{}")
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_credential_is_recognized_and_hidden_however_it_is_spelled_or_repeated(host):
    key = make_key(host)["key"]
    for authorizations in ([f"bearer {key}"], [f"BEARER  {key} "], [f"Basic dXNlcjpwdw==", f"Bearer {key}"],
                           [f"Bearer {key}", "Bearer something-else"], [f"bearer {DEPLOY_TOKEN}"],
                           ["Bearer something-else", f"bearer {DEPLOY_TOKEN}"], [f"Bearer foo, Bearer {key}"]):
        assert raw_call(host, "sales", authorizations) == (200, "hello"), authorizations
        status, headers = raw_call(host, "echo", authorizations)
        assert status == 200 and "authorization" not in headers, authorizations
    logs = host.request("GET", "/functions/echo/logs", headers=CONFIGURATOR).body.decode()
    assert key not in logs and DEPLOY_TOKEN not in logs
    # A key sent any other way is no credential, yet never reaches a handler either.
    for malformed in ([f"Token {key}"], [key], [f"Bearer:{key}"]):
        status, headers = raw_call(host, "echo", malformed)
        assert status == 200 and "authorization" not in headers, malformed
    # Another scheme, or a bearer value that is no credential of the host's, is the handler's to check.
    assert "authorization" in raw_call(host, "echo", ["Basic dXNlcjpwdw=="])[1]
    assert raw_call(host, "sales", ["Bearerpyk_k_000000000000_0"])[0] == 401


def test_a_deploy_that_fails_leaves_the_access_as_it_was(host):
    assert host.request("POST", "/functions/guarded?access=private", HELLO, CONFIGURATOR).status == 201
    before = host.request("GET", "/audit?limit=1", headers=CONFIGURATOR).json()["entries"]
    for broken in ("def handle(:\n", "raise RuntimeError('no')\n"):
        assert host.request("POST", "/functions/guarded?access=public", broken, CONFIGURATOR).status in (400, 422)
        assert host.request("GET", "/functions/guarded/access").json()["access"] == "private"
        assert call(host, "guarded").status == 401
    assert host.request("GET", "/audit?limit=1", headers=CONFIGURATOR).json()["entries"] == before
    assert host.request("POST", "/functions/guarded?access=public", HELLO, CONFIGURATOR).status == 201
    assert call(host, "guarded").json() == "hello"
    entries = host.request("GET", "/audit?limit=2", headers=CONFIGURATOR).json()["entries"]
    assert [e["action"] for e in reversed(entries)] == ["access", "deploy"]
    assert entries[1]["detail"].startswith("public")


def interrupted_upload(host, method, path, body, first, meanwhile, headers=()):
    """Sends `body` to `path` in two parts, `meanwhile()` running between them (or sends the head
    alone when `first` is None): the (status, error type) answered."""
    connection = http.client.HTTPConnection(host.url.removeprefix("http://"), timeout=30)
    try:
        connection.putrequest(method, path)
        for name, value in [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers]:
            connection.putheader(name, value)
        if first is None:
            connection.endheaders()
        else:
            connection.endheaders(body[:first])
            meanwhile()
            connection.send(body[first:])
        response = connection.getresponse()
        return response.status, json.loads(response.read())["error"]["type"]
    finally:
        connection.close()


def test_access_is_checked_when_the_body_is_in(host):
    """A call whose upload began while its function was public is refused if it became private
    (or the key was revoked) before the body ended."""
    assert host.request("POST", "/functions/flip?access=public", HELLO, CONFIGURATOR).status == 201
    made_private = lambda: set_access(host, "flip", access="private")
    assert interrupted_upload(host, "POST", "/functions/flip/invoke", b"{}", 1, made_private) == (401, "KeyRequired")

def test_a_caller_who_may_not_call_is_refused_before_sending_a_body(host):
    """A private function's anonymous caller gets 401 from the headers alone: it holds none of
    the host's request-body budget while it uploads."""
    body = b" " * (6 * 1024 * 1024)
    assert interrupted_upload(host, "POST", "/functions/sales/invoke", body, None, None) == (401, "KeyRequired")

def test_a_version_replaced_during_an_upload_needs_the_token(host):
    """A call to the serving version by number, whose body is still arriving when a fix is
    deployed, is a call to a version that no longer serves: the token is needed for it."""
    assert host.request("POST", "/functions/patched", HELLO, CONFIGURATOR).status == 201
    fixed = lambda: host.request("POST", "/functions/patched", HELLO, CONFIGURATOR)
    assert interrupted_upload(host, "POST", "/functions/patched/versions/1/invoke", b"{}", 1, fixed) == (401, "Unauthorized")

def test_access_set_while_the_function_is_deleted_is_refused(host):
    """A PUT of access whose body arrives after the function was deleted finds it gone: it leaves
    nothing behind for a later function of that name."""
    assert host.request("POST", "/functions/racy", HELLO, CONFIGURATOR).status == 201
    body = json.dumps({"access": "public", "rate_per_second": 1, "allowed_origins": ["https://evil.example"]}).encode()
    deleted = lambda: host.request("DELETE", "/functions/racy", headers=CONFIGURATOR)
    assert interrupted_upload(host, "PUT", "/functions/racy/access", body, 5, deleted,
                              [("Authorization", f"Bearer {DEPLOY_TOKEN}")]) == (404, "FunctionNotFound")
    assert host.request("POST", "/functions/racy", HELLO, CONFIGURATOR).status == 201
    assert host.request("GET", "/functions/racy/access").json() == {"access": "public", "rate_per_second": None, "allowed_origins": []}
