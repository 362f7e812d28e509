"""The escape suite: hostile handlers, each with the exact outcome the sandbox must produce, and a
check that the host still serves afterwards.

Outcomes are (status, error type) of the call, or (200, value) where the handler reports what the
kernel answered. SandboxViolation (502) names the syscall the seccomp allow-list trapped.
"""

import errno
import os
import signal

import pytest

from server import REPO, Server
from wheelhouse import block

LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def raw_syscall(number, *args):
    """A handler making syscall `number` through ctypes, returning -errno if it comes back."""
    arguments = ", ".join(str(a) for a in args)
    return LIBC + f"def handle(r):\n    result = libc.syscall({number}{', ' if arguments else ''}{arguments})\n    return result if result >= 0 else -ctypes.get_errno()\n"


def escapes(server):
    """Each hostile handler: (source, expected status, expected error type or returned value)."""
    data_dir = str(server.data_dir)
    server_pid = server.process.pid
    return {
        # network: no socket can be created, so no route exists to anything, the API included
        "tcp-to-the-api": (f"import socket\ndef handle(r):\n    socket.create_connection(('127.0.0.1', {server.port}), timeout=1)\n", 500, "PermissionError"),
        "udp": ("import socket\ndef handle(r):\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53))\n", 500, "PermissionError"),
        "unix-socket": ("import socket\ndef handle(r):\n    socket.socket(socket.AF_UNIX).connect('/run/anything')\n", 500, "PermissionError"),
        "raw-socket-syscall": (raw_syscall(41, 2, 1, 0), 200, -errno.EPERM),
        "socketpair-syscall": (LIBC + "def handle(r):\n    fds = (ctypes.c_int * 2)()\n    return libc.socketpair(1, 1, 0, fds), ctypes.get_errno()\n", 200, [-1, errno.EPERM]),
        # files
        "data-directory": (f"def handle(r):\n    open('{data_dir}/pyhost.sqlite', 'rb')\n", 500, "FileNotFoundError"),
        "project-checkout": (f"def handle(r):\n    open('{REPO}/README.md')\n", 500, "FileNotFoundError"),
        "root-home": ("import os\ndef handle(r):\n    os.listdir('/root')\n", 500, "FileNotFoundError"),
        "etc-shadow": ("def handle(r):\n    open('/etc/shadow').read()\n", 500, "PermissionError"),
        "write-outside-tmp": ("def handle(r):\n    open('/usr/lib/evil.py', 'w')\n", 500, "OSError"),
        "append-etc-passwd": ("def handle(r):\n    open('/etc/passwd', 'a')\n", 500, "PermissionError"),
        "fill-the-disk": ("import os\ndef handle(r):\n    chunk = b'x' * (1 << 20)\n    for i in range(1000):\n        try:\n            with open(f'/tmp/fill{i}', 'wb') as f:\n                f.write(chunk)\n        except OSError as e:\n            for j in range(i + 1):\n                try:\n                    os.unlink(f'/tmp/fill{j}')\n                except FileNotFoundError:\n                    pass\n            return [i < 70, e.errno]\n", 200, [True, errno.ENOSPC]),
        "huge-file": ("import os\ndef handle(r):\n    with open('/tmp/big', 'wb') as f:\n        f.seek(100 << 20)\n        f.write(b'x')\n", 500, "OSError"),
        # processes
        "fork": ("import os\ndef handle(r):\n    os.fork()\n", 500, "PermissionError"),
        "exec": ("import os\ndef handle(r):\n    os.execv('/bin/true', ['true'])\n", 500, "PermissionError"),
        "os-system": ("import os\ndef handle(r):\n    return os.system('id')\n", 200, 127 << 8),
        "subprocess": ("import subprocess\ndef handle(r):\n    subprocess.run(['id'])\n", 500, "PermissionError"),
        "posix-spawn": ("import os\ndef handle(r):\n    os.posix_spawn('/bin/true', ['true'], {})\n", 500, "PermissionError"),
        "thread-bomb": ("import threading\ndef handle(r):\n    stop = threading.Event()\n    threads = []\n    try:\n        for _ in range(10000):\n            t = threading.Thread(target=stop.wait)\n            t.start()\n            threads.append(t)\n    except RuntimeError:\n        pass\n    stop.set()\n    for t in threads:\n        t.join()\n    return [0 < len(threads) < 512, len(threads) < 10000]\n", 200, [True, True]),
        # signals and ptrace against the zygote, the server and siblings
        "kill-the-server": (f"import os\ndef handle(r):\n    os.kill({server_pid}, 9)\n", 500, "PermissionError"),
        "kill-everything": ("import os\ndef handle(r):\n    os.kill(-1, 9)\n", 500, "PermissionError"),
        "kill-process-group": ("import os\ndef handle(r):\n    os.killpg(0, 9)\n", 500, "PermissionError"),
        "ptrace-the-server": (LIBC + f"def handle(r):\n    return libc.ptrace(16, {server_pid}, 0, 0), ctypes.get_errno()\n", 200, [-1, errno.EPERM]),
        "pidfd-of-the-server": (raw_syscall(434, server_pid, 0), 200, -errno.EPERM),
        "see-other-processes": ("import os\ndef handle(r):\n    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n", 200, [1]),
        # namespace and mount syscalls
        "unshare": (LIBC + "def handle(r):\n    libc.unshare(0x10000000)\n", 502, "unshare"),
        "setns": (raw_syscall(308, 0, 0), 502, "setns"),
        "mount": (LIBC + "def handle(r):\n    libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, None)\n", 502, "mount"),
        "chroot": ("import os\ndef handle(r):\n    os.chroot('/tmp')\n", 502, "chroot"),
        "pivot-root": (raw_syscall(155, 0, 0), 502, "pivot_root"),
        # kernel attack surface
        "bpf": (raw_syscall(321, 0, 0, 0), 502, "bpf"),
        "io-uring": (raw_syscall(425, 1, 0), 502, "io_uring_setup"),
        "userfaultfd": (raw_syscall(323, 0), 502, "userfaultfd"),
        "keyctl": (raw_syscall(250, 0, 0), 502, "keyctl"),
        "perf-event-open": (raw_syscall(298, 0, 0, -1, -1, 0), 502, "perf_event_open"),
        "load-a-module": (raw_syscall(313, 0, 0, 0), 502, "finit_module"),
        # memory
        "one-huge-allocation": ("def handle(r):\n    return len(bytearray(2 << 30))\n", 500, "MemoryError"),
        "gradual-exhaustion": ("def handle(r):\n    hoard = []\n    while True:\n        hoard.append(bytearray(64 << 20))\n", 500, "MemoryError"),
        # raising its own limits back
        "raise-limits": (raw_syscall(160, 9, 0), 200, -errno.EPERM),
    }


def check_outcome(reply, status, expected):
    assert reply.status == status, reply
    if status == 200:
        assert reply.json() == expected
    elif status == 502:
        error = reply.json()["error"]
        assert (error["type"], error["syscall"]) == ("SandboxViolation", expected)
    else:
        assert reply.json()["error"]["type"] == expected, reply


def still_serves(server):
    assert server.request("GET", "/healthz").status == 200
    assert server.invoke("canary", {"name": "canary"}).json() == {"message": "Hello canary"}


CANARY = "def handle(request):\n    return {'message': 'Hello ' + request['name']}\n"


@pytest.fixture(scope="module", autouse=True)
def canary(server):
    assert server.deploy("canary", CANARY).status == 201


@pytest.fixture(scope="module")
def with_packages(wheels, tmp_path_factory):
    """A server whose hostile handlers declare a package: their workers fork from an environment's zygote."""
    instance = Server(tmp_path_factory.mktemp("escape-packages"), "--timeout", "3", "--no-index", "--find-links", str(wheels))
    assert instance.deploy("canary", CANARY).status == 201
    yield instance
    assert instance.stop() == 0


CASE_NAMES = [
    "tcp-to-the-api", "udp", "unix-socket", "raw-socket-syscall", "socketpair-syscall",
    "data-directory", "project-checkout", "root-home", "etc-shadow", "write-outside-tmp", "append-etc-passwd",
    "fill-the-disk", "huge-file", "fork", "exec", "os-system", "subprocess", "posix-spawn", "thread-bomb",
    "kill-the-server", "kill-everything", "kill-process-group", "ptrace-the-server", "pidfd-of-the-server",
    "see-other-processes", "unshare", "setns", "mount", "chroot", "pivot-root", "bpf", "io-uring",
    "userfaultfd", "keyctl", "perf-event-open", "load-a-module", "one-huge-allocation", "gradual-exhaustion",
    "raise-limits",
]


def test_the_suite_covers_every_case(server):
    assert sorted(escapes(server)) == sorted(CASE_NAMES)
    assert len(CASE_NAMES) >= 30


@pytest.mark.parametrize("name", CASE_NAMES)
def test_hostile_handler(server, name):
    source, status, expected = escapes(server)[name]
    # A generous deadline: exhausting 1 GiB of memory takes a while on a loaded machine.
    deployed = server.request("POST", f"/functions/escape-{name}?timeout=30", source)
    assert deployed.status == 201, deployed
    check_outcome(server.invoke(f"escape-{name}", {}), status, expected)
    still_serves(server)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_hostile_handler_with_requirements(with_packages, name):
    source, status, expected = escapes(with_packages)[name]
    deployed = with_packages.request("POST", f"/functions/escape-{name}?timeout=30", block("tinyhello") + source)
    assert deployed.status == 201, deployed
    assert deployed.json()["requirements"]["environment"] is not None
    check_outcome(with_packages.invoke(f"escape-{name}", {}), status, expected)
    still_serves(with_packages)


def test_a_worker_that_ran_out_of_memory_keeps_serving(server):
    source = "import uuid\nWORKER = uuid.uuid4().hex\ndef handle(r):\n    if r:\n        bytearray(4 << 30)\n    return WORKER\n"
    assert server.deploy("memory-then-serve", source).status == 201
    first = server.invoke("memory-then-serve", False).json()
    assert server.invoke("memory-then-serve", True).json()["error"]["type"] == "MemoryError"
    assert server.invoke("memory-then-serve", False).json() == first


def test_the_worker_runs_as_an_unprivileged_identity(server):
    source = "import os\ndef handle(r):\n    return [os.getuid(), os.getgid(), os.geteuid(), os.getgroups(), os.getpid()]\n"
    assert server.deploy("identity", source).status == 201
    reply = server.invoke("identity", {})
    uid, gid, euid, groups, pid = reply.json()
    assert uid >= 1000 and (gid, euid, groups, pid) == (uid, uid, [], 1)
    status = open(f"/proc/{reply.headers['Pyhost-Worker']}/status").read()
    host_uid = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]
    assert host_uid == str(100000 + uid)


def test_the_handler_sees_none_of_the_servers_environment(server):
    server.deploy("environment", "import os\ndef handle(r):\n    return dict(os.environ)\n")
    assert server.invoke("environment", {}).json() == {}


def test_the_worker_holds_no_descriptor_but_its_channel(server):
    server.deploy("fds", "import os\ndef handle(r):\n    return sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n")
    fds = server.invoke("fds", {}).json()
    # 0-2 are the standard streams, 3 the channel; listdir's own descriptor is the one left.
    assert len(fds) == 5 and fds[:4] == [0, 1, 2, 3]


def test_no_network_interface_is_up(server):
    server.deploy("interfaces", "def handle(r):\n    return open('/proc/net/dev').read().count(':')\n")
    assert server.invoke("interfaces", {}).json() == 1, "only lo exists, in a namespace of its own"


def test_import_time_code_is_sandboxed_too(server):
    reply = server.deploy("import-socket", "import socket\nsocket.socket()\ndef handle(r):\n    return 1\n")
    assert (reply.status, reply.json()["error"]["type"]) == (422, "PermissionError")
    reply = server.deploy("import-unshare", LIBC + "libc.unshare(0x10000000)\ndef handle(r):\n    return 1\n")
    assert (reply.status, reply.json()["error"]["type"]) == (422, "ImportCrashed")
    assert "unshare" in reply.json()["error"]["message"]
    reply = server.deploy("import-read-data", f"open('{server.data_dir}/pyhost.sqlite')\ndef handle(r):\n    return 1\n")
    assert (reply.status, reply.json()["error"]["type"]) == (422, "FileNotFoundError")
    still_serves(server)


def test_monkeypatching_pandas_in_one_function_does_not_affect_another(server):
    patcher = "import pandas\npandas.DataFrame.sum = lambda *a, **k: 'patched'\ndef handle(r):\n    return pandas.DataFrame({'a': [1, 2]}).sum()\n"
    honest = "import pandas\ndef handle(r):\n    return pandas.DataFrame({'a': [1, 2]}).sum()\n"
    assert server.deploy("patcher", patcher).status == 201
    assert server.deploy("honest", honest).status == 201
    assert server.invoke("patcher", {}).json() == "patched"
    assert server.invoke("honest", {}).json() == {"a": 3}


def test_a_file_written_by_one_function_is_not_readable_by_another(server):
    writer = "def handle(r):\n    open('/tmp/secret', 'w').write('s3cret')\n    return open('/tmp/secret').read()\n"
    reader = "def handle(r):\n    return open('/tmp/secret').read()\n"
    assert server.deploy("writer", writer).status == 201
    assert server.deploy("reader", reader).status == 201
    assert server.invoke("writer", {}).json() == "s3cret"
    reply = server.invoke("reader", {})
    assert (reply.status, reply.json()["error"]["type"]) == (500, "FileNotFoundError")


def test_a_sandbox_violation_replaces_the_worker(server):
    source = LIBC + "import uuid\nWORKER = uuid.uuid4().hex\ndef handle(r):\n    if r:\n        libc.unshare(0)\n    return WORKER\n"
    assert server.deploy("violator", source).status == 201
    first = server.invoke("violator", False)
    assert server.invoke("violator", True).status == 502
    second = server.invoke("violator", False)
    assert second.status == 200 and second.json() != first.json()
