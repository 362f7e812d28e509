"""Attacks from the outside review, each with the exact outcome the host must produce: secrets,
descriptors, frames the server must bound itself, memory outside the address space, the SIGSYS
verdict, file locks and host identifiers."""

import errno
import json
import os
import secrets

import pytest

from server import Server, run_to_exit

LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def outcome(reply):
    """(status, error type) of a failed call, or (200, value)."""
    body = reply.json()
    return (reply.status, body if reply.status == 200 else body["error"]["type"])


def call(server, name, source, payload=None):
    deployed = server.deploy(name, source)
    assert deployed.status == 201, deployed
    return server.invoke(name, payload if payload is not None else {})


def still_serves(server):
    assert call(server, "canary", "def handle(r):\n    return 'alive'\n").json() == "alive"


# Reads every anonymous, heap and stack page of the worker and returns the distinct strings of the
# shape zq<32 hex>x. The decoy is made at run time, so the scan proves it reads the heap; the
# pattern itself does not match its own text.
MEMORY_SCAN = """import ctypes, re
PATTERN = re.compile(rb'zq[0-9a-f]{32}x')
def handle(r):
    decoy = ('zq' + '0123456789abcdef' * 2 + 'x').encode()
    found = set()
    for line in open('/proc/self/maps'):
        fields = line.split()
        start, end = (int(x, 16) for x in fields[0].split('-'))
        name = fields[5] if len(fields) > 5 else ''
        if 'r' not in fields[1] or (name and name not in ('[stack]', '[heap]')):
            continue
        for offset in range(start, end, 1 << 24):
            chunk = ctypes.string_at(offset, min(end - offset, (1 << 24) + 64))
            found.update(m.decode() for m in PATTERN.findall(chunk))
    return sorted(found)
"""


def test_no_server_variable_or_token_reaches_a_workers_memory(tmp_path):
    marker, token = (f"zq{secrets.token_hex(16)}x" for _ in range(2))
    server = Server(tmp_path, env={"PYHOST_TEST_MARKER": marker, "PYHOST_DEPLOY_TOKEN": token}, token=token)
    try:
        reply = call(server, "scan", MEMORY_SCAN)
        assert reply.json() == ["zq" + "0123456789abcdef" * 2 + "x"], "only the decoy the handler made"
        zygote = server.descendants()[0]
        environment = open(f"/proc/{zygote}/environ", "rb").read().split(b"\0")
        assert sorted(filter(None, environment)) == [b"LANG=C.UTF-8", b"PATH=/usr/bin:/bin", b"SWIFT_BACKTRACE=enable=no"]
        assert marker.encode() not in open(f"/proc/{zygote}/cmdline", "rb").read()
    finally:
        assert server.stop() == 0


STANDARD_STREAMS = """import os, stat
def handle(r):
    kinds = [(stat.S_ISCHR(os.fstat(fd).st_mode), os.major(os.fstat(fd).st_rdev), os.minor(os.fstat(fd).st_rdev)) for fd in (0, 1, 2)]
    os.write(1, b'FORGED log line\\n')
    os.write(2, b'FORGED log line\\n')
    os.pwrite(2, b'FORGED' * 100, 0)
    try:
        os.ftruncate(2, 0)
    except OSError:
        pass
    print('printed by the handler')
    return kinds
"""


def test_standard_streams_are_dev_null_and_the_servers_log_is_untouchable(server):
    before = server.log_path.read_bytes()
    assert server.deploy("streams", STANDARD_STREAMS).status == 201
    reply = server.request("POST", "/functions/streams/invoke?logs=true", "{}")
    assert reply.status == 200, reply
    assert reply.json()["result"] == [[True, 1, 3]] * 3
    assert reply.json()["logs"] == "printed by the handler\n"
    after = server.log_path.read_bytes()
    assert after.startswith(before) and b"FORGED" not in after


def raw_frame(kind, size, count=1):
    """A handler that writes its own frames, tagged for its call as the runtime's would be."""
    return (
        "import os, struct\n"
        "def handle(r, context):\n"
        "    tag = context.invocation_id.encode() + b'\\n'\n"
        f"    frame = struct.pack('>IB', len(tag) + {size}, {kind}) + tag + b'x' * {size}\n"
        f"    for _ in range({count}):\n"
        "        try:\n"
        "            os.write(3, frame)\n"
        "        except OSError:\n"
        "            pass\n"
        "    import time\n"
        "    time.sleep(5)\n"
    )


@pytest.mark.parametrize("name, source, message", [
    ("oversized-logs", raw_frame(17, 6 << 20),
     "the worker sent a logs frame of 6291473 bytes; the limit for that kind is 65809"),
    ("two-logs-frames", raw_frame(17, 10, count=2), "the worker sent a second logs frame for one call"),
    ("a-servers-frame", raw_frame(1, 10), "the worker sent a load frame, which only the server sends"),
    ("oversized-error", raw_frame(13, (1 << 20) + 1),
     "the worker sent a handlerError frame of 1048594 bytes; the limit for that kind is 1048593"),
    ("a-result-not-json", raw_frame(11, 10), "the worker's result frame is not JSON"),
    ("an-error-not-json", raw_frame(13, 10), "the worker's handlerError frame is not JSON"),
])
def test_the_server_caps_every_frame_a_worker_sends(server, name, source, message):
    reply = call(server, name, source)
    assert (reply.status, reply.json()["error"]) == (502, {"type": "ProtocolViolation", "message": message})
    still_serves(server)


def test_an_error_body_cannot_add_fields_to_the_envelope(server):
    forged = b'{"error": {"type": "E", "message": "m"},"result":{"forged":true},"version":99}'
    source = (
        "import os, struct\n"
        "def handle(r, context):\n"
        "    tag = context.invocation_id.encode() + b'\\n'\n"
        f"    os.write(3, struct.pack('>IB', len(tag) + {len(forged)}, 13) + tag + {forged!r})\n"
        "    import time\n"
        "    time.sleep(5)\n"
    )
    assert server.deploy("forger", source).status == 201
    reply = server.request("POST", "/functions/forger/invoke?logs=true", "{}", {"Content-Type": "application/json"})
    envelope = json.loads(reply.body)  # a duplicated key would keep the forged value
    assert envelope["result"] is None and envelope["version"] == 1, envelope
    still_serves(server)


DESYNC = """import json, os, struct, time
def handle(request, context):
    if request.get("early"):
        # An answer of its own, for its own call; the runtime's answer follows a second later.
        tag = context.invocation_id.encode() + b"\\n"
        early = json.dumps("early").encode()
        os.write(3, struct.pack(">IB", len(tag) + len(early), 11) + tag + early)
        time.sleep(1)
    return {"you_are": request["who"]}
"""


def test_an_answer_left_over_from_one_call_never_answers_the_next(server):
    """A handler that answers its own call early leaves the runtime's answer behind on the
    channel: it must not become the answer to the next caller of that worker."""
    assert server.deploy("desync?concurrency=1", DESYNC).status == 201
    assert server.invoke("desync", {"who": "alice", "early": True}).json() == "early"
    # Bob's call goes to the same worker (concurrency 1) while Alice's handler still runs: the
    # runtime's answer to Alice arrives while Bob's call is in progress, and is refused.
    bob = server.invoke("desync", {"who": "bob"})
    assert (bob.status, bob.json()["error"]) == (502, {
        "type": "ProtocolViolation", "message": "the worker sent a result frame that does not answer the call in progress"})
    assert server.invoke("desync", {"who": "carol"}).json() == {"you_are": "carol"}


def test_kept_logs_stay_within_a_functions_byte_budget(server):
    source = "def handle(r):\n    print('€' * 40000)\n    return 1\n"
    assert server.deploy("loud", source).status == 201
    for _ in range(40):
        assert server.invoke("loud", {}).status == 200
    kept = server.request("GET", "/functions/loud/logs").json()["invocations"]
    assert len(kept) == 32
    assert all(len(entry["logs"].encode()) <= 64 * 1024 + 256 for entry in kept)


MEMORY_PATHS = {
    "memfd": ("import os\ndef handle(r):\n    os.memfd_create('hoard')\n", (500, "PermissionError")),
    "dev-shm": ("def handle(r):\n    open('/dev/shm/hoard', 'w')\n", (500, "FileNotFoundError")),
    "sysv-shm": (LIBC + "def handle(r):\n    libc.shmget(0, 1 << 20, 0o1600)\n", (502, "shmget")),
    "address-space-leaves-room-for-tmp": (
        "def handle(r):\n    line = next(l for l in open('/proc/self/limits') if l.startswith('Max address space'))\n"
        "    return [int(n) for n in line.split()[3:5]]\n",
        (200, [(1024 - 64) << 20] * 2)),
}


@pytest.mark.parametrize("name", sorted(MEMORY_PATHS))
def test_memory_outside_the_address_space_is_refused(server, name):
    source, expected = MEMORY_PATHS[name]
    reply = call(server, f"memory-{name}", source)
    if reply.status == 502:
        assert (reply.status, reply.json()["error"]["syscall"]) == expected
    else:
        assert outcome(reply) == expected
    still_serves(server)


SIGNALS = {
    "install-a-sigsys-handler": ("import signal\ndef handle(r):\n    signal.signal(signal.SIGSYS, lambda *a: None)\n", (500, "PermissionError")),
    "ignore-sigsys": ("import signal\ndef handle(r):\n    signal.signal(signal.SIGSYS, signal.SIG_IGN)\n", (500, "PermissionError")),
    "sigsys-with-high-bits": (
        LIBC + "def handle(r):\n    act = ctypes.create_string_buffer(152)\n"
        "    result = libc.syscall(13, ctypes.c_long((1 << 32) | 31), act, None, 8)\n    return [result, ctypes.get_errno()]\n",
        (200, [-1, errno.EPERM])),
    "other-signals-stay-usable": (
        "import signal\ndef handle(r):\n    signal.signal(signal.SIGALRM, lambda *a: None)\n    return signal.getsignal(signal.SIGALRM).__name__\n",
        (200, "<lambda>")),
}


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_a_handler_cannot_take_over_sigsys(server, name):
    source, expected = SIGNALS[name]
    assert outcome(call(server, f"signal-{name}", source)) == expected
    still_serves(server)


def test_a_trapped_call_is_still_reported_after_a_refused_handler(server):
    source = LIBC + (
        "import signal\ndef handle(r):\n    try:\n        signal.signal(signal.SIGSYS, signal.SIG_IGN)\n"
        "    except PermissionError:\n        pass\n    libc.unshare(0x10000000)\n    return 'carried on'\n"
    )
    error = call(server, "trap-after-refused-handler", source).json()["error"]
    assert (error["type"], error["syscall"]) == ("SandboxViolation", "unshare")
    still_serves(server)


def test_a_forged_sandbox_violation_report_is_not_believed(server):
    """A handler can write the SIGSYS handler's report (it carries no call tag), but cannot die
    of a trapped call without making one: the report is believed only with that death."""
    source = (
        "import os, struct, time\n"
        "def handle(r):\n"
        "    os.write(3, struct.pack('>IB', 4, 16) + struct.pack('>I', 59))\n"
        "    time.sleep(5)\n"
    )
    def violations():
        metrics = server.request("GET", "/metrics").body.decode()
        return sum(float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith('pyhost_worker_deaths_total{cause="sandbox_violation"}'))
    before = violations()
    reply = call(server, "forged-violation", source)
    assert (reply.status, reply.json()["error"]) == (502, {
        "type": "ProtocolViolation", "message": "the worker reported a sandbox violation it did not die of"})
    assert violations() == before
    still_serves(server)


def test_a_worker_that_blocks_sigsys_is_killed_by_the_kernel(server):
    source = LIBC + (
        "import signal\ndef handle(r):\n    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGSYS})\n"
        "    libc.unshare(0x10000000)\n    return 'carried on'\n"
    )
    reply = call(server, "trap-sigsys-blocked", source)
    assert (reply.status, reply.json()["error"]) == (502, {
        "type": "WorkerDied", "message": "the worker was killed by SIGSYS: it made a system call the sandbox forbids"})
    still_serves(server)


LOCKS = {
    "flock-a-host-file": ("import fcntl\ndef handle(r):\n    fcntl.flock(open('/etc/passwd'), fcntl.LOCK_EX)\n", (500, "PermissionError")),
    "record-lock-a-host-file": (
        "import fcntl\ndef handle(r):\n    fcntl.lockf(open('/etc/passwd'), fcntl.LOCK_SH)\n", (500, "PermissionError")),
    "descriptor-flags-still-work": (
        "import fcntl, os\ndef handle(r):\n    fd = os.open('/etc/passwd', os.O_RDONLY)\n"
        "    return fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC\n", (200, 1)),
}


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_file_locks_cannot_reach_host_files(server, name):
    source, expected = LOCKS[name]
    assert outcome(call(server, f"lock-{name}", source)) == expected
    still_serves(server)


def test_host_identifiers_read_empty(server):
    source = (
        "import os\ndef handle(r):\n    paths = ['/proc/cmdline', '/etc/machine-id', '/etc/hostname', '/proc/sys/kernel/random/boot_id', '/proc/config.gz']\n"
        "    return {p: open(p).read() for p in paths if os.path.exists(p)}\n"
    )
    found = call(server, "identifiers", source).json()
    assert {path: text for path, text in found.items()} == {path: "" for path in found}
    assert {"/proc/cmdline", "/proc/sys/kernel/random/boot_id"} <= set(found)
    for path in ["/etc/machine-id", "/etc/hostname"]:
        assert (path in found) == os.path.exists(path)


# Starts small-stacked threads until the kernel refuses one, and keeps them alive in the worker.
THREAD_HOARD = """import threading
hoard = []
def handle(r):
    threading.stack_size(32 * 1024)
    stop = threading.Event()
    try:
        for _ in range(r):
            thread = threading.Thread(target=stop.wait)
            thread.start()
            hoard.append(thread)
    except RuntimeError:
        pass
    return len(hoard)
"""


def test_one_workers_threads_cannot_starve_another(server):
    hoarders = ["hoarder-a", "hoarder-b", "hoarder-c"]
    hoarded = []
    for name in hoarders:
        assert server.deploy(name, THREAD_HOARD).status == 201
        hoarded.append(server.invoke(name, 200).json())
    # Together more than one RLIMIT_NPROC (512), which they would share with one host uid. Each
    # stays below its own limit: CPython can hang in Thread.start() when clone fails at the limit.
    # Three of 200, not two of 300: a worker's threads also spend its address space (malloc arenas
    # of 64 MiB), and 300 sat at the edge of --worker-memory's 1 GiB.
    assert hoarded == [200, 200, 200] and sum(hoarded) > 512, hoarded
    assert server.deploy("modest", THREAD_HOARD).status == 201
    assert server.invoke("modest", 10).json() == 10
    pids = [server.invoke(name, 0).headers["Pyhost-Worker"] for name in [*hoarders, "modest"]]
    host_uids = {next(line for line in open(f"/proc/{pid}/status") if line.startswith("Uid:")).split()[1] for pid in pids}
    assert len(host_uids) == 4, "each worker has a host uid of its own"


def test_the_zygotes_errors_still_reach_the_servers_log(tmp_path, monkeypatch):
    monkeypatch.setenv("PYHOST_RUNTIME_DIR", str(tmp_path / "no-runtime-here"))
    code, output = run_to_exit(tmp_path / "data")
    assert code == 1
    assert f"pyhost zygote: the Python runtime in {tmp_path / 'no-runtime-here'} did not load (see above)" in output
    assert "ModuleNotFoundError: No module named 'pyhost_runtime'" in output
