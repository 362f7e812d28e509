"""The command-line client in the same binary, against a live server: the newcomer's walk-through
(deploy → invoke → logs → redeploy → rollback), JSON output, and exit codes. Against tiny loopback
servers in the test: what it sends, and that it is safe to point at anything (escaped control
characters, no redirects, a bounded answer)."""

import http.server
import json
import subprocess
import threading
import types

import pytest

from server import BINARY, DEPLOY_TOKEN as TOKEN, EXAMPLES, free_port


def pyhost(server, *arguments, token=TOKEN, stdin=None, environment=()):
    environment = {"PYHOST_URL": server.url, "PATH": "/usr/bin:/bin", **dict(environment)}
    if token:
        environment["PYHOST_DEPLOY_TOKEN"] = token
    return subprocess.run([str(BINARY), *arguments], capture_output=True, text=True, env=environment, input=stdin, timeout=60)


class Loopback:
    """A tiny HTTP server on 127.0.0.1 that records every request and answers with `answer(handler)`."""

    def __init__(self, answer):
        self.requests = []
        recorded = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def serve(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorded.append({"method": self.command, "path": self.path, "body": body,
                                 "headers": {name.lower(): value for name, value in self.headers.items()}})
                answer(self)

            do_GET = do_POST = do_DELETE = serve

            def log_message(self, *arguments):
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}"

    def __enter__(self):
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exception):
        self.http.shutdown()
        self.http.server_close()


def answering(status, body=b"", headers=()):
    def answer(handler):
        handler.send_response(status)
        for name, value in [*headers, ("Content-Length", str(len(body)))]:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)
    return answer


def raw_controls(text):
    """The control characters a terminal would act on (C0 but newline and tab, DEL, C1), and the
    bidirectional overrides and isolates that reorder what it shows."""
    bidi = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    return [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F or ord(c) in bidi]


def test_the_walk_through(guarded, tmp_path):
    deployed = pyhost(guarded, "deploy", "greeter", str(EXAMPLES / "hello.py"))
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.startswith("deployed greeter version 1")

    invoked = pyhost(guarded, "invoke", "greeter", '{"name": "Hugues"}')
    assert (invoked.returncode, invoked.stdout.strip()) == (0, '{"message":"Hello Hugues"}')

    chatty = tmp_path / "chatty.py"
    chatty.write_text("def handle(request):\n    print('handling', request['name'])\n    return {'message': 'Hi ' + request['name']}\n")
    assert pyhost(guarded, "deploy", "greeter", str(chatty), "--timeout", "5").returncode == 0
    with_logs = pyhost(guarded, "invoke", "greeter", "-", "--logs", stdin='{"name": "Ada"}')
    assert with_logs.stdout.strip() == '{"message":"Hi Ada"}'
    assert with_logs.stderr.strip() == "handling Ada"

    logs = pyhost(guarded, "logs", "greeter")
    assert logs.returncode == 0
    assert "    handling Ada" in logs.stdout and " v2 200 " in logs.stdout

    listed = pyhost(guarded, "list")
    assert listed.stdout.splitlines()[0].split() == ["NAME", "VERSION", "CREATED"]
    assert any(line.split()[:2] == ["greeter", "2"] for line in listed.stdout.splitlines())

    rolled = pyhost(guarded, "rollback", "greeter", "1")
    assert (rolled.returncode, rolled.stdout.strip()) == (0, "greeter now serves version 1")
    assert pyhost(guarded, "invoke", "greeter", '{"name": "Hugues"}').stdout.strip() == '{"message":"Hello Hugues"}'

    assert pyhost(guarded, "delete", "greeter").stdout.strip() == "deleted greeter"


def test_json_output_is_the_servers(guarded):
    pyhost(guarded, "deploy", "as-json", str(EXAMPLES / "hello.py"))
    listed = pyhost(guarded, "list", "--json")
    assert "as-json" in [f["name"] for f in json.loads(listed.stdout)["functions"]]
    shown = pyhost(guarded, "invoke", "as-json", "null", "--json")
    assert json.loads(shown.stdout) == {"message": "Hello world"}


@pytest.mark.parametrize("arguments, token, code, message", [
    (["invoke", "missing-fn"], TOKEN, 1, "FunctionNotFound"),
    (["deploy", "no-token", "python/examples/hello.py"], None, 1, "Unauthorized"),
    (["rollback", "missing-fn", "1"], TOKEN, 1, "FunctionNotFound"),
])
def test_errors_exit_1_with_the_servers_message(guarded, arguments, token, code, message):
    if arguments[0] == "deploy":
        arguments = [arguments[0], arguments[1], str(EXAMPLES / "hello.py")]
    result = pyhost(guarded, *arguments, token=token)
    assert result.returncode == code
    assert message in result.stderr


def test_a_syntax_error_names_the_line(guarded, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def handle(r):\n    return 1 +\n")
    result = pyhost(guarded, "deploy", "broken", str(broken))
    assert result.returncode == 1
    assert "SyntaxError" in result.stderr and "line 2" in result.stderr


def test_an_unreachable_server_exits_2(tmp_path):
    result = subprocess.run([str(BINARY), "list"], capture_output=True, text=True,
                            env={"PYHOST_URL": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 2
    assert "cannot reach pyhost" in result.stderr


# What a caller can make a handler print: OSC 52 (set the clipboard), a title change, CSI (clear the
# screen, 8-bit form too), a carriage return and a forged log line.
HOSTILE = "Ada\x1b]52;c;cm0gLXJmIH4K\x07\x1b]0;owned\x07\x1b[2J\x9b1m\r\n2026-11-28T00:00:00.000Z 0000000000000000 v1 200 1 ms"
ESCAPED = r"Ada\x1b]52;c;cm0gLXJmIH4K\x07\x1b]0;owned\x07\x1b[2J\u009b1m"
FORGED = "2026-11-28T00:00:00.000Z 0000000000000000 v1 200 1 ms"
ECHO = """def handle(request):
    print(request["text"])
    if request.get("fail"):
        raise ValueError(request["text"])
    return {"echo": request["text"]}
"""


def test_what_a_handler_prints_is_escaped_unless_raw(guarded, tmp_path):
    (tmp_path / "echo.py").write_text(ECHO)
    assert pyhost(guarded, "deploy", "hostile", str(tmp_path / "echo.py")).returncode == 0

    called = pyhost(guarded, "invoke", "hostile", "-", "--logs", stdin=json.dumps({"text": HOSTILE}))
    assert called.returncode == 0
    assert called.stdout == json.dumps({"echo": HOSTILE}, separators=(",", ":")) + "\n"
    assert called.stderr == ESCAPED + "\\x0d\n" + FORGED + "\n"

    failed = pyhost(guarded, "invoke", "hostile", "-", "--logs", stdin=json.dumps({"text": HOSTILE, "fail": True}))
    assert failed.returncode == 1
    assert failed.stderr.count(ESCAPED) == 2, failed.stderr  # the logs, then the error's message
    assert "ValueError" in failed.stderr and raw_controls(failed.stderr) == []

    logs = pyhost(guarded, "logs", "hostile")
    assert logs.returncode == 0 and raw_controls(logs.stdout) == []
    assert f"\n    {ESCAPED}\n    {FORGED}\n" in logs.stdout  # the forged line is indented like every printed line

    assert HOSTILE.split("\r")[0] in pyhost(guarded, "logs", "hostile", "--raw").stdout
    raw_call = pyhost(guarded, "invoke", "hostile", "-", "--logs", "--raw", stdin=json.dumps({"text": HOSTILE}))
    assert HOSTILE.split("\r")[0] in raw_call.stderr


@pytest.mark.parametrize("arguments, answer, shown", [
    (["list"], b'{"functions":[{"name":"f\\u001b]0;t\\u0007","version":1,"created_at":"\\u009b2J"}]}',
     r"f\x1b]0;t\x07  1        \u009b2J"),
    (["deploy", "f", "-"], b'{"version":"1\\u001b[2J","sha256":"\\u009b","invoke_url":"/f"}',
     r"deployed f version 1\x1b[2J (sha256 \u009b)"),
    (["invoke", "f"], b'"\x1b[31mred\xc2\x9b\x7f"', r'"\x1b[31mred\u009b\u007f"'),
    (["list", "--json"], b'{"functions":["\xc2\x9b"]}', r'{"functions":["\u009b"]}'),
    # Bidirectional overrides reorder what the terminal shows (Trojan Source).
    (["invoke", "f"], '"cost \u202e0001\u202c"'.encode(), r'"cost \u202e0001\u202c"'),
])
def test_everything_the_server_sends_is_escaped(arguments, answer, shown):
    with Loopback(answering(200, answer, [("Content-Type", "application/json")])) as fake:
        result = pyhost(fake, *arguments, stdin="")
        raw = pyhost(fake, *arguments, "--raw", stdin="")
    assert result.returncode == 0 and shown in result.stdout and raw_controls(result.stdout) == []
    assert raw_controls(raw.stdout) != []


def test_an_error_from_anywhere_is_escaped():
    with Loopback(answering(502, b"bad gateway \x1b]52;c;cm0gLXJmIH4K\x07")) as fake:
        result = pyhost(fake, "list")
    assert (result.returncode, result.stderr) == (1, "bad gateway \\x1b]52;c;cm0gLXJmIH4K\\x07\n")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed_so_the_token_stays(status, tmp_path):
    (tmp_path / "f.py").write_text("def handle(request):\n    return 1\n")
    with Loopback(answering(200, b'{"version":1}')) as elsewhere:
        target = elsewhere.url + "/functions/f"
        with Loopback(answering(status, headers=[("Location", target)])) as redirecting:
            result = pyhost(redirecting, "deploy", "f", str(tmp_path / "f.py"))
    assert redirecting.requests[0]["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert elsewhere.requests == []
    assert result.returncode == 1 and result.stdout == ""
    assert f"answered {status}, a redirect to {target}; redirects are not followed" in result.stderr


def test_an_oversized_answer_is_an_error():
    def endless(handler):
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(4096):
                handler.wfile.write(b"x" * 65536)
        except OSError:
            pass  # the client hung up, as it should

    with Loopback(endless) as fake:
        result = pyhost(fake, "invoke", "f", "--max-response-bytes", "1000000")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"pyhost: the answer from {fake.url} is larger than 1000000 bytes; --max-response-bytes raises the limit\n"


def test_a_token_over_plain_http_to_another_machine_is_warned_about():
    # The proxy lets a name that is not this machine reach the loopback server.
    with Loopback(answering(200, b'{"version":1}')) as proxy:
        remote = pyhost(proxy, "rollback", "f", "1", environment={"PYHOST_URL": "http://pyhost.example:3000",
                                                                  "http_proxy": proxy.url})
        local = pyhost(proxy, "rollback", "f", "1")
    assert remote.returncode == 0 and remote.stderr == (
        "pyhost: warning: the deploy token goes to http://pyhost.example:3000 over plain http, readable by anyone on the way\n")
    assert local.returncode == 0 and local.stderr == ""


def test_the_deploy_token_from_a_file(start_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    server = start_server("--deploy-token-file", str(token_file))
    assert pyhost(server, "deploy", "f", str(EXAMPLES / "hello.py"), token=None).returncode == 1
    deployed = pyhost(server, "deploy", "f", str(EXAMPLES / "hello.py"), "--deploy-token-file", str(token_file), token=None)
    assert deployed.returncode == 0, deployed.stderr


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the deploy token file"),
    ("\n", "is empty"),
    ("two\nlines\n", "must hold the token on one line"),
])
def test_a_bad_token_file_is_a_usage_error(tmp_path, content, message):
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    client = pyhost(types.SimpleNamespace(url="http://127.0.0.1:9"), "list", "--deploy-token-file", str(token_file))
    serve = subprocess.run([str(BINARY), "serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"),
                            "--deploy-token-file", str(token_file)], capture_output=True, text=True, timeout=60)
    for result in (client, serve):
        assert result.returncode == 64 and message in result.stderr and str(token_file) in result.stderr


def test_serve_help_says_where_a_token_flag_is_visible():
    shown = " ".join(subprocess.run([str(BINARY), "serve", "--help"], capture_output=True, text=True, timeout=60).stdout.split())
    assert "visible to every local user in /proc/PID/cmdline: prefer PYHOST_DEPLOY_TOKEN or --deploy-token-file" in shown


def test_invoke_logs_prints_the_result_as_sent(guarded, tmp_path):
    (tmp_path / "floats.py").write_text("def handle(request):\n    return {'z': 1.0, 'a': {'y': 2.50, 'b': None}}\n")
    pyhost(guarded, "deploy", "floats", str(tmp_path / "floats.py"))
    for arguments in ([], ["--logs"]):
        result = pyhost(guarded, "invoke", "floats", *arguments)
        assert (result.returncode, result.stdout) == (0, '{"z":1.0,"a":{"y":2.5,"b":null}}\n')


def test_invoke_sends_csv_and_asks_for_it(tmp_path):
    table = b"city,people\nLyon,522250\n"
    (tmp_path / "cities.csv").write_bytes(table)
    with Loopback(answering(200, b"city\nLyon\n", [("Content-Type", "text/csv")])) as fake:
        from_file = pyhost(fake, "invoke", "f", "--csv", str(tmp_path / "cities.csv"), "--accept", "csv")
        from_stdin = pyhost(fake, "invoke", "f", "--csv", "-", stdin=table.decode())
    assert (from_file.returncode, from_file.stdout) == (0, "city\nLyon\n")
    sent = [(r["path"], r["headers"]["content-type"], r["headers"].get("accept"), r["body"]) for r in fake.requests]
    assert sent == [("/functions/f/invoke", "text/csv", "text/csv", table), ("/functions/f/invoke", "text/csv", "*/*", table)]
    assert from_stdin.returncode == 0
    both = pyhost(fake, "invoke", "f", "{}", "--csv", "-")
    assert both.returncode == 64 and "give a JSON request or --csv, not both" in both.stderr
