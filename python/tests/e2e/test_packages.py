"""A module's PEP 723 `# /// script` dependencies: resolved by pip from an offline wheel folder
built by the test run (conftest's `wheels`), installed into content-addressed environments, and
imported by a zygote per environment that forks the function's workers."""

import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from server import BINARY, Server, free_port, pid_alive, wait_until
import wheelhouse
from wheelhouse import block

HELLO = "import tinyhello\ndef handle(request):\n    return tinyhello.VALUE\n"


@pytest.fixture(scope="module")
def packaged(wheels, tmp_path_factory):
    instance = Server(tmp_path_factory.mktemp("packaged"), "--no-index", "--find-links", str(wheels))
    yield instance
    assert instance.stop() == 0


def environment_zygotes(server):
    """The server's descendants started as an environment's zygote (a process may end meanwhile)."""
    found = []
    for pid in server.descendants():
        try:
            if b"--environment" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


def environments(server):
    folder = server.data_dir / "environments"
    return sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith(".")) if folder.exists() else []


def test_a_requirement_imports_and_serves(packaged):
    source = block("tinyuser") + "import tinyuser\ndef handle(request):\n    return tinyuser.VALUE\n"
    deployed = packaged.deploy("user", source)
    assert deployed.status == 201, deployed
    requirements = deployed.json()["requirements"]
    assert requirements["declared"] == ["tinyuser"]
    # tinyuser's own dependency resolves too, to the highest version there is.
    assert [(p["name"], p["version"]) for p in requirements["packages"]] == [("tinyhello", "2.0"), ("tinyuser", "1.0")]
    assert all(len(p["sha256"]) == 64 for p in requirements["packages"])
    assert requirements["environment"] in environments(packaged) and requirements["shadows"] == []
    assert packaged.invoke("user", {}).json() == "user of hello 2.0"
    assert packaged.request("GET", "/functions/user").json()["requirements"] == requirements


def test_the_cli_prints_what_a_deploy_resolved(packaged, tmp_path):
    module = tmp_path / "cli.py"
    module.write_text(block("tinyuser") + "import tinyuser\ndef handle(request):\n    return tinyuser.VALUE\n")
    shown = subprocess.run([str(BINARY), "deploy", "cli", str(module)], capture_output=True, text=True, timeout=60,
                           env={"PYHOST_URL": packaged.url, "PATH": "/usr/bin:/bin"})
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[1] == "requires: tinyuser"
    assert lines[2].startswith("installed: tinyhello==2.0 tinyuser==1.0 (environment ")


def test_a_module_without_a_block_has_no_requirements(packaged):
    deployed = packaged.deploy("plain", "import pandas\ndef handle(request):\n    return pandas.__version__\n")
    assert deployed.status == 201 and deployed.json()["requirements"] is None
    assert packaged.invoke("plain", {}).json() == "1.5.3"


def test_requirements_the_host_has_need_no_environment(packaged):
    deployed = packaged.deploy("hostonly", block("numpy", "pandas>=1.5") + "import numpy\ndef handle(request):\n    return 1\n")
    assert deployed.status == 201, deployed
    requirements = deployed.json()["requirements"]
    assert (requirements["packages"], requirements["environment"]) == ([], None)
    assert packaged.invoke("hostonly", {}).json() == 1


def test_two_functions_with_the_same_set_share_one_environment(packaged):
    first = packaged.deploy("share-a", block("tinyhello==1.0") + HELLO)
    # A different block (another spelling, a comment) that resolves to the same set.
    second = packaged.deploy("share-b", block("tinyhello<2", extra="# # the old greeting\n") + HELLO)
    assert first.status == second.status == 201, (first, second)
    assert first.json()["requirements"]["environment"] == second.json()["requirements"]["environment"]
    assert packaged.invoke("share-a", {}).json() == packaged.invoke("share-b", {}).json() == "hello 1.0"
    zygotes = [line for line in packaged.request("GET", "/metrics").body.decode().splitlines()
               if line.startswith("pyhost_environment_zygotes ")]
    assert zygotes and float(zygotes[0].split()[1]) == len(environments(packaged))


def metric(server, family):
    lines = server.request("GET", "/metrics").body.decode().splitlines()
    return [float(line.split()[-1]) for line in lines if line.startswith(family + " ") or line.startswith(family + "{")]


def test_metrics_count_environments_their_zygotes_and_installs(packaged):
    assert packaged.deploy("metered", block("tinyhello==1.0", extra="# # metered\n") + HELLO).status == 201
    assert metric(packaged, "pyhost_environments") == [len(environments(packaged))]
    assert metric(packaged, "pyhost_environment_zygotes")[0] >= 1
    assert metric(packaged, "pyhost_install_duration_seconds_count")[0] >= 1


def test_environment_zygotes_retire_past_their_memory_budget(start_server, wheels):
    # A budget of 1 MiB: every idle environment zygote is over it.
    server = start_server("--no-index", "--find-links", str(wheels), "--environment-memory", "1", "--idle-timeout", "1")
    assert server.deploy("budget", block("tinyhello==1.0") + HELLO).status == 201
    assert metric(server, "pyhost_environment_zygotes") == [1]
    # Its worker retires after a second idle; then its zygote is over budget and in no use.
    assert wait_until(lambda: metric(server, "pyhost_environment_zygotes") == [0], timeout=20)
    # The next call starts it again.
    assert server.invoke("budget", {}).json() == "hello 1.0"
    assert metric(server, "pyhost_environment_zygotes") == [1]


def test_a_redeploy_with_the_same_block_does_not_run_pip_again(packaged):
    assert packaged.deploy("again", block("tinyhello==2.0") + HELLO).status == 201
    installs = metric(packaged, "pyhost_install_duration_seconds_count")
    assert packaged.deploy("again", block("tinyhello==2.0") + HELLO + "# a new handler\n").status == 201
    # The installer (pip) did not run again: a remembered resolution needs none of it.
    assert metric(packaged, "pyhost_install_duration_seconds_count") == installs
    # A changed block resolves anew.
    assert packaged.deploy("again", block("tinyhello==2.0", extra="# # changed\n") + HELLO).status == 201
    assert metric(packaged, "pyhost_install_duration_seconds_count") == [installs[0] + 1]


def test_a_rollback_moves_across_environments(packaged):
    for source in (block("tinyhello==1.0") + HELLO, block("tinyhello==2.0") + HELLO,
                   "def handle(request):\n    return 'no packages'\n"):
        assert packaged.deploy("roll", source).status == 201
    expected = {1: "hello 1.0", 2: "hello 2.0", 3: "no packages"}
    for version in (1, 2, 3, 1):
        rolled = packaged.request("POST", f"/functions/roll/rollback?version={version}")
        assert rolled.status == 200, rolled
        assert packaged.invoke("roll", {}).json() == expected[version]


def test_an_environment_shadowing_pandas_serves_from_its_own_interpreter(packaged):
    source = block("pandas==99.0") + (
        "import pandas\n"
        "def handle(request):\n"
        "    return pandas.DataFrame({'version': [pandas.__version__]})\n"
    )
    deployed = packaged.deploy("shadow", source)
    assert deployed.status == 201, deployed
    assert deployed.json()["requirements"]["shadows"] == ["pandas"]
    assert packaged.invoke("shadow", {}).json() == [{"version": "99.0"}]
    # The host's pandas is untouched for every other function.
    assert packaged.invoke("plain", {}).json() == "1.5.3"


@pytest.mark.parametrize("declared, kind, words", [
    (block("nosuchpackage"), "UnknownPackage", "nosuchpackage"),
    (block("tinyhello==7.0"), "UnknownPackage", "tinyhello"),
    (block("sdistonly"), "NoCompatibleWheel", "sdistonly"),
    (block("needsoldnumpy"), "RequirementConflict", "numpy"),
    (block("tinyhello==1.0", "tinyhello==2.0"), "RequirementConflict", "tinyhello"),
    ("# /// script\n# dependencies = [\n# ///\n", "InvalidRequirements", "TOML"),
    ("# /// script\n# dependencies = \"tinyhello\"\n# ///\n", "InvalidRequirements", "list of strings"),
    (block("tinyhello @ file:///etc/passwd"), "InvalidRequirements", "URL"),
    (block("--index-url=http://evil.example/"), "InvalidRequirements", "not a requirement"),
    ("# /// script\n# dependencies = []\n", "InvalidRequirements", "not closed"),
    ('# /// script\n# requires-python = ">=3.99"\n# ///\n', "IncompatiblePython", "3.99"),
    (block("raisesatimport"), "PackageImportFailed", "refuses to load"),
    (block("leavesathread"), "PackageImportFailed", "threads"),
])
def test_every_refusal_is_a_typed_422_and_stores_nothing(packaged, declared, kind, words):
    name = "refused-" + kind.lower()
    reply = packaged.deploy(name, declared + "def handle(request):\n    return 1\n")
    assert reply.status == 422, reply
    error = reply.json()["error"]
    assert error["type"] == kind and words in error["message"], error
    assert packaged.request("GET", f"/functions/{name}").status == 404


def test_a_package_that_hangs_or_forges_events_at_import_is_a_422(start_server, wheels):
    server = start_server("--no-index", "--find-links", str(wheels), "--timeout", "3")
    started = time.monotonic()
    hung = server.deploy("hangs", block("sleepsatimport") + "def handle(request):\n    return 1\n")
    assert (hung.status, hung.json()["error"]["type"]) == (422, "PackageImportFailed"), hung
    assert "within 3 s" in hung.json()["error"]["message"] and time.monotonic() - started < 15
    forged = server.deploy("forges", block("forgesevents") + "def handle(request):\n    return 1\n")
    assert (forged.status, forged.json()["error"]["type"]) == (422, "PackageImportFailed"), forged
    assert server.request("GET", "/healthz").status == 200


def test_a_block_the_server_and_pip_would_read_differently_is_refused(packaged):
    # Two openers, read by PEP 723's greedy expression as one block ending at the last `# ///`:
    # were its resolution remembered under the inner block's text, another function's block
    # would be served this one's packages.
    confusing = ('x = 1\n# /// script\n# x = """\n# /// script\n# dependencies = ["tinyhello==1.0"]\n# ///\n'
                 '# """\n# dependencies = ["tinyhello==2.0"]\n# ///\n' + HELLO)
    for source in (confusing, confusing.replace("x = 1\n", "x = 1\r\n", 1)):
        reply = packaged.deploy("confusing", source)
        assert (reply.status, reply.json()["error"]["type"]) == (422, "InvalidRequirements"), reply
    victim = packaged.deploy("victim", block("tinyhello==1.0", extra="# # victim\n") + HELLO)
    assert victim.json()["requirements"]["declared"] == ["tinyhello==1.0"]
    assert packaged.invoke("victim", {}).json() == "hello 1.0"


def test_a_package_cannot_replace_the_standard_library(packaged):
    source = block("fakejson") + "import json\ndef handle(request):\n    return json.__file__\n"
    deployed = packaged.deploy("stdlib", source)
    assert deployed.status == 201, deployed
    assert packaged.invoke("stdlib", {}).json().startswith("/usr/lib/python3")


def test_an_unreachable_index_is_named(start_server):
    closed = f"http://127.0.0.1:{free_port()}/simple"
    server = start_server("--package-index", closed, "--install-timeout", "60")
    reply = server.deploy("unreachable", block("tinyhello") + HELLO)
    assert reply.status == 422, reply
    error = reply.json()["error"]
    assert error["type"] == "IndexUnreachable" and closed in error["message"], error


def test_install_time_and_size_limits(start_server, wheels):
    small = start_server("--no-index", "--find-links", str(wheels), "--install-max-mib", "1")
    reply = small.deploy("huge", block("hugepkg") + "def handle(request):\n    return 1\n")
    assert (reply.status, reply.json()["error"]["type"]) == (422, "InstallSizeLimit"), reply
    assert "--install-max-mib" in reply.json()["error"]["message"]
    assert environments(small) == []
    bomb = small.deploy("bomb", block("zipbomb") + "def handle(request):\n    return 1\n")
    assert (bomb.status, bomb.json()["error"]["type"]) == (422, "InstallSizeLimit"), bomb
    assert "unpacked" in bomb.json()["error"]["message"]
    written = sum(path.stat().st_size for path in (small.data_dir / "environments").rglob("*") if path.is_file())
    assert written < 1 << 20, "nothing was unpacked"
    slow = start_server("--no-index", "--find-links", str(wheels), "--install-timeout", "0.05")
    reply = slow.deploy("slow", block("tinyhello") + HELLO)
    assert (reply.status, reply.json()["error"]["type"]) == (422, "InstallTimeLimit"), reply


def test_a_restart_reinstalls_the_exact_set(start_server, wheels, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(wheels, index)
    data = tmp_path / "data"
    first = start_server("--no-index", "--find-links", str(index), data_dir=data)
    deployed = first.deploy("exact", block("tinyhello>=1") + HELLO).json()
    assert [(p["name"], p["version"]) for p in deployed["requirements"]["packages"]] == [("tinyhello", "2.0")]
    assert first.stop() == 0
    # The environment is gone (a new disk, another node) and the index now has a newer version.
    shutil.rmtree(data / "environments")
    newer = wheelhouse.build(tmp_path / "newer", [wheelhouse.package("tinyhello", "3.0", "VALUE = 'hello 3.0'\n")])
    shutil.copy(next(newer.glob("*.whl")), index)
    second = start_server("--no-index", "--find-links", str(index), data_dir=data)
    assert second.invoke("exact", {}).json() == "hello 2.0"
    assert second.request("GET", "/functions/exact").json()["requirements"] == deployed["requirements"]
    assert environments(second) == [deployed["requirements"]["environment"]]


def test_deleting_the_last_user_collects_its_environment(packaged):
    deployed = packaged.deploy("collect", block("tinyuser", "tinyhello==2.0", extra="# # collect me\n") + HELLO)
    environment = deployed.json()["requirements"]["environment"]
    users = [name for name in ("user",) if packaged.request("GET", f"/functions/{name}").status == 200]
    assert environment in environments(packaged)
    for name in ["collect", *users]:
        assert packaged.request("DELETE", f"/functions/{name}").status == 204
    # Collection spares environments installed in the last few minutes (a deploy may be storing
    # one): this one is young, so it stays until a restart or a later delete past that window.
    assert environment in environments(packaged)


ATTACK = """
import os, socket, subprocess, json
RESULTS = {{}}

def attempt(name, action):
    try:
        RESULTS[name] = ["succeeded", repr(action())[:200]]
    except BaseException as error:
        RESULTS[name] = ["failed", type(error).__name__]

attempt("connect-to-the-api", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))
attempt("fork", os.fork)
attempt("subprocess", lambda: subprocess.run(["/bin/true"]))
def scan_for_token():
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            for part in ("cmdline", "environ"):
                try:
                    with open(f"/proc/{{pid}}/{{part}}", "rb") as f:
                        if b"{token}" in f.read():
                            found.append(f"{{pid}}/{{part}}")
                except OSError:
                    pass
    if found:
        return found
    raise LookupError("the token is nowhere in sight")
attempt("token-in-proc", scan_for_token)
attempt("data-directory", lambda: open("{data_dir}/pyhost.sqlite", "rb").read(16))
attempt("write-the-environment", lambda: open(__file__ + ".evil", "w"))
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def mount(*arguments):
    if libc.mount(*arguments) != 0:
        raise OSError(ctypes.get_errno(), "mount")
attempt("move-the-proc-away", lambda: mount(b"/proc", b"/tmp", None, 8192, None))
attempt("remount-the-root-writable", lambda: mount(None, b"/", None, 32 | 4096, None))
attempt("see-host-processes", lambda: [p for p in os.listdir("/proc") if p.isdigit() and p != "1"] or (_ for _ in ()).throw(LookupError("only itself")))
"""


def test_import_code_of_a_package_cannot_reach_the_network_fork_or_the_token(start_server, tmp_path):
    token = "package-attack-token-93d1"
    index = tmp_path / "attack"
    index.mkdir()
    data = tmp_path / "attacked"
    # The token on the command line, where every host process's /proc/PID/cmdline shows it.
    server = start_server("--deploy-token", token, "--no-index", "--find-links", str(index), data_dir=data)
    server.token = token
    wheelhouse.build(index, [
        wheelhouse.package("attacker", "1.0", ATTACK.format(port=server.port, token=token, data_dir=data))])
    source = block("attacker") + "import attacker\ndef handle(request):\n    return attacker.RESULTS\n"
    deployed = server.deploy("attacked", source)
    assert deployed.status == 201, deployed
    results = server.invoke("attacked", {}).json()
    assert set(results) == {"connect-to-the-api", "fork", "subprocess", "token-in-proc", "data-directory",
                            "write-the-environment", "see-host-processes", "move-the-proc-away",
                            "remount-the-root-writable"}
    assert {name: outcome[0] for name, outcome in results.items()} == dict.fromkeys(results, "failed"), results
    assert results["fork"][1] == results["subprocess"][1] == results["connect-to-the-api"][1] == "PermissionError"
    assert token not in str(results)


def test_a_damaged_environment_is_installed_anew(start_server, wheels):
    server = start_server("--no-index", "--find-links", str(wheels))
    deployed = server.deploy("damaged", block("tinyhello==1.0") + HELLO)
    assert deployed.status == 201, deployed
    site = server.data_dir / "environments" / deployed.json()["requirements"]["environment"] / "site-packages"
    (site / "tinyhello" / "__init__.py").unlink()
    # The environment's zygote ends (as after a retirement or a crash); its worker dies with it.
    zygotes = environment_zygotes(server)
    assert zygotes
    for pid in zygotes:
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: server.invoke("damaged", {}).status == 200, timeout=30)
    assert server.invoke("damaged", {}).json() == "hello 1.0"
    assert (site / "tinyhello" / "__init__.py").exists()


def test_an_environment_zygote_dies_with_the_server_even_while_importing(start_server, wheels):
    import threading

    server = start_server("--no-index", "--find-links", str(wheels), "--timeout", "60")
    def deploy_stuck():
        try:
            server.deploy("stuck", block("sleepsatimport") + HELLO)
        except OSError:
            pass  # the server is killed mid-deploy

    threading.Thread(target=deploy_stuck, daemon=True).start()

    assert wait_until(lambda: environment_zygotes(server), timeout=20)
    zygotes = environment_zygotes(server)
    server.process.kill()
    server.process.wait()
    assert wait_until(lambda: not any(pid_alive(pid) for pid in zygotes), timeout=10), "a zygote outlived the server"
