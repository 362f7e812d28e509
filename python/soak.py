#!/usr/bin/env python3
"""Soak: N seconds of mixed load against a live pyhost, then a check that nothing leaked.

The mix: warm calls, pandas calls, deploys and redeploys, handlers that crash their worker, calls
past their deadline, and handlers that exhaust their memory. It prints counts per status and
p50/p99 per kind, and exits 1 if a descriptor, a process or a zombie leaked, if the server's
memory kept growing, or if any call got a status its kind does not expect.

    python/soak.py                       # starts .build/release/pyhost (or --binary) for 60 s
    python/soak.py --duration 600 --concurrency 16
"""

import argparse
import collections
import concurrent.futures
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import proctree

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "python" / "examples"

FUNCTIONS = {
    "hello": ((EXAMPLES / "hello.py").read_text(), ""),
    "pandas": ((EXAMPLES / "sales_by_region.py").read_text(), ""),
    "crash": ("import os\ndef handle(r):\n    os._exit(3)\n", ""),
    "slow": ("import time\ndef handle(r):\n    time.sleep(5)\n", "?timeout=0.3"),
    "hog": ("def handle(r):\n    return len(bytearray(3 << 30))\n", ""),
}
ORDERS = {"orders": [{"region": ["north", "south", "east"][i % 3], "amount": i * 1.5} for i in range(200)]}

# kind: (weight, expected statuses)
MIX = {
    "warm": (50, {200}),
    "pandas": (25, {200}),
    "deploy": (5, {201}),
    "redeploy": (5, {201}),
    "crash": (5, {502}),
    # 503: refused, or still queued at the deadline, when other timeouts hold the workers.
    "timeout": (5, {503, 504}),
    "memory": (5, {500}),
}


def request(base, method, path, body=None):
    data = body.encode() if isinstance(body, str) else body
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, data=data, method=method), timeout=30) as reply:
            reply.read()
            status = reply.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, (time.perf_counter() - started) * 1000


def action(base, kind, rng):
    if kind == "warm":
        return request(base, "POST", "/functions/hello/invoke", json.dumps({"name": "soak"}))
    if kind == "pandas":
        return request(base, "POST", "/functions/pandas/invoke", json.dumps(ORDERS))
    if kind == "deploy":
        name = f"soak-{rng.randrange(1_000_000)}"
        status, took = request(base, "POST", f"/functions/{name}", FUNCTIONS["hello"][0])
        request(base, "DELETE", f"/functions/{name}")
        return status, took
    if kind == "redeploy":
        return request(base, "POST", "/functions/hello", FUNCTIONS["hello"][0] + f"# {rng.random()}\n")
    if kind == "crash":
        return request(base, "POST", "/functions/crash/invoke", "{}")
    if kind == "timeout":
        return request(base, "POST", "/functions/slow/invoke", "{}")
    return request(base, "POST", "/functions/hog/invoke", "{}")


class Host:
    """The server's process tree and resources, read from /proc."""

    def __init__(self, pid, base):
        self.pid = pid
        self.base = base

    def health(self):
        with urllib.request.urlopen(self.base + "/healthz", timeout=10) as reply:
            return json.loads(reply.read())

    def descendants(self):
        return proctree.descendants(self.pid)

    def zombies(self):
        return [pid for pid in self.descendants() if "State:\tZ" in self._status(pid)]

    def rss_mib(self):
        line = next(line for line in self._status(self.pid).splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def fds(self):
        return len(self.descriptor_kinds())

    def descriptor_kinds(self):
        """What each descriptor is: `socket`, `pipe`, `anon_inode:[pidfd]`, or the file's path."""
        return [target.split(":[")[0] if target.startswith(("socket:", "pipe:")) else target
                for target in proctree.descriptors(self.pid)]

    def settle(self, timeout=20):
        """Waits until the pool is quiet and the spares are back; returns the health then."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            workers = health["workers"]
            processes = len(self.descendants())
            quiet = workers["busy"] == 0 and workers["waiting_calls"] == 0 and workers["spare"] >= 2
            if quiet and processes == 1 + workers["live"] + workers["spare"] or time.monotonic() > deadline:
                return health, processes

    def unexplained_fds(self, health):
        """Descriptors beyond the two (channel, pidfd) each live or spare worker holds.

        Counted a moment after the last /healthz request, once the server has closed that request's
        own connection, which would otherwise count as one more socket half of the time.
        The store's files are not counted: GRDB's pool opens reader connections as reads overlap
        and keeps them (at most 5, two files each), which `store_files` bounds.
        """
        time.sleep(0.5)
        return self.fds() - self.store_files() - 2 * (health["workers"]["live"] + health["workers"]["spare"])

    def store_files(self):
        return sum(1 for kind in self.descriptor_kinds() if "pyhost.sqlite" in kind)

    @staticmethod
    def _status(pid):
        try:
            return pathlib.Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return ""


def soak(base, pid, duration, concurrency, seed, out=sys.stdout):
    """Runs the soak against the server at `base` (process `pid`). Returns True when clean."""
    for name, (source, query) in FUNCTIONS.items():
        status, _ = request(base, "POST", f"/functions/{name}{query}", source)
        assert status == 201, f"deploying {name}: {status}"
    host = Host(pid, base)
    for _ in range(50):
        action(base, "warm", random.Random(0))
    before, processes_before = host.settle()
    fds_before = host.unexplained_fds(before)
    kinds_before = collections.Counter(host.descriptor_kinds())

    counts = collections.Counter()
    latencies = collections.defaultdict(list)
    unexpected = collections.Counter()
    rss = []
    stop = time.monotonic() + duration
    kinds = list(MIX)
    weights = [MIX[kind][0] for kind in kinds]

    def client(index):
        rng = random.Random(seed * 1000 + index)
        while time.monotonic() < stop:
            kind = rng.choices(kinds, weights)[0]
            status, took = action(base, kind, rng)
            counts[(kind, status)] += 1
            latencies[kind].append(took)
            if status not in MIX[kind][1]:
                unexpected[(kind, status)] += 1

    def sample():
        while time.monotonic() < stop:
            rss.append(host.rss_mib())
            time.sleep(max(0.2, duration / 50))

    sampler = threading.Thread(target=sample)
    sampler.start()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client, range(concurrency)))
    sampler.join()

    after, processes_after = host.settle()
    fds_after = host.unexplained_fds(after)
    grown = collections.Counter(host.descriptor_kinds()) - kinds_before
    zombies = host.zombies()
    quarter = max(1, len(rss) // 4)
    early, late = statistics.median(rss[quarter:2 * quarter] or rss), statistics.median(rss[-quarter:])
    growing = late > early * 1.25 and late - early > 20

    print(f"soak: {duration:g} s, {concurrency} clients, seed {seed}, {sum(counts.values())} calls\n", file=out)
    print("| kind | calls | statuses | p50 ms | p99 ms |", file=out)
    print("|---|---|---|---|---|", file=out)
    for kind in kinds:
        statuses = ", ".join(f"{status}: {n}" for (k, status), n in sorted(counts.items()) if k == kind)
        values = latencies[kind]
        if values:
            p99 = sorted(values)[min(len(values) - 1, int(0.99 * len(values)))]
            print(f"| {kind} | {len(values)} | {statuses} | {statistics.median(values):.1f} | {p99:.1f} |", file=out)
    checks = [
        ("every status as expected", not unexpected, dict(unexpected)),
        ("store connections within GRDB's pool", host.store_files() <= 2 * (1 + 5) + 1, f"{host.store_files()} store files"),
        ("no descriptor leaked", fds_after <= fds_before,
         f"{fds_before} → {fds_after} beyond worker channels; more of: {dict(grown) or 'nothing'}"),
        ("no process leaked", processes_after == 1 + after["workers"]["live"] + after["workers"]["spare"],
         f"{processes_before} → {processes_after} processes, {after['workers']['live']} live + {after['workers']['spare']} spare workers"),
        ("no zombie", not zombies, zombies),
        ("server memory not growing", not growing, f"RSS {rss[0]:.1f} → {early:.1f} → {late:.1f} MiB"),
    ]
    print("", file=out)
    for label, passed, detail in checks:
        print(f"- {'ok  ' if passed else 'FAIL'} {label}: {detail}", file=out)
    return all(passed for _, passed, _ in checks)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(REPO / ".build" / "release" / "pyhost"))
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="pyhost-soak-")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(pathlib.Path(data_dir) / "server.log", "wb")
    process = subprocess.Popen([arguments.binary, "serve", "--port", str(port), "--data-dir", data_dir, "--timeout", "5"],
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        clean = soak(base, process.pid, arguments.duration, arguments.concurrency, arguments.seed)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"- {'ok  ' if code == 0 else 'FAIL'} clean stop: exit code {code}")
    sys.exit(0 if clean and code == 0 else 1)


if __name__ == "__main__":
    main()
