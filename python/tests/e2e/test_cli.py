"""The command-line client in the same binary, against a live server: the newcomer's walk-through
(deploy → invoke → logs → redeploy → rollback), JSON output, and exit codes."""

import json
import subprocess

import pytest

from server import BINARY, DEPLOY_TOKEN as TOKEN, EXAMPLES


def pyhost(server, *arguments, token=TOKEN, stdin=None):
    environment = {"PYHOST_URL": server.url, "PATH": "/usr/bin:/bin"}
    if token:
        environment["PYHOST_DEPLOY_TOKEN"] = token
    return subprocess.run([str(BINARY), *arguments], capture_output=True, text=True, env=environment, input=stdin, timeout=60)


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
