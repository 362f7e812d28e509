"""The worker's seccomp filter and confinement: what a handler may not do (issue-2 minimum)."""

import pytest

CASES = {
    "fork": ("import os\ndef handle(r):\n    return os.fork()\n", "PermissionError"),
    "exec": ("import os\ndef handle(r):\n    os.execv('/bin/true', ['true'])\n", "PermissionError"),
    "system": ("import os\ndef handle(r):\n    return os.system('true')\n", None),
    "subprocess": ("import subprocess\ndef handle(r):\n    subprocess.run(['true'])\n", "PermissionError"),
    "socket": ("import socket\ndef handle(r):\n    socket.socket()\n", "PermissionError"),
    "write": ("def handle(r):\n    open('/tmp/pyhost-escape', 'w').write('x')\n", "PermissionError"),
    "append": ("def handle(r):\n    open('/etc/hostname', 'a')\n", "PermissionError"),
    "unlink": ("import os\ndef handle(r):\n    os.unlink('/tmp/anything')\n", "PermissionError"),
    "kill-parent": ("import os\ndef handle(r):\n    os.kill(os.getppid(), 9)\n", "PermissionError"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forbidden_operations_fail_inside_the_handler(server, name):
    source, error_type = CASES[name]
    assert server.deploy(f"deny-{name}", source).status == 201
    reply = server.invoke(f"deny-{name}", {})
    if error_type is None:
        # glibc's system() reports a posix_spawn that could not create the process as the
        # status of a shell that exited with 127, rather than raising.
        assert (reply.status, reply.json()) == (200, 127 << 8)
    else:
        assert reply.status == 500
        assert reply.json()["error"]["type"] == error_type
    assert server.request("GET", "/healthz").status == 200


def test_the_handler_sees_none_of_the_servers_environment(server):
    server.deploy("environment", "import os\ndef handle(r):\n    return dict(os.environ)\n")
    assert server.invoke("environment", {}).json() == {}


def test_the_worker_holds_no_descriptor_but_its_channel(server):
    server.deploy("fds", "import os\ndef handle(r):\n    return sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n")
    fds = server.invoke("fds", {}).json()
    # 0-2 are the standard streams, 3 the channel; listdir's own descriptor is the one left.
    assert len(fds) == 5 and fds[:4] == [0, 1, 2, 3]


def test_reading_files_still_works(server):
    server.deploy("reads", "import json\ndef handle(r):\n    return open('/etc/os-release').read().startswith('PRETTY_NAME')\n")
    assert server.invoke("reads", {}).json() is True
