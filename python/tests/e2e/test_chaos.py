"""Chaos: many clients deploying, deleting, rolling back and invoking a few functions at once.

The server must never exit, answer only documented statuses, and end with every function's
answer, source and version list agreeing, and its workers and descriptors back at rest."""

import concurrent.futures
import hashlib
import random
import threading
import time

from server import wait_until


NAMES = ["red", "green", "blue"]
STORM_SECONDS = 20
CLIENTS = 16
ALLOWED = {
    "deploy": {201},
    "delete": {204, 404},
    "rollback": {200, 404},
    # 502 WorkerDied: a delete ends the calls in flight on its workers; 503: refused under load.
    "invoke": {200, 404, 502, 503},
    "show": {200, 404},
    "versions": {200, 404},
}
TYPES = {404: {"FunctionNotFound", "VersionNotFound"}, 502: {"WorkerDied"}, 503: {"Saturated"}}


def module(name, token, slow):
    pause = "import time\ntime.sleep(0.3)\n" if slow else ""
    return f"{pause}def handle(request):\n    return {{'name': {name!r}, 'token': {token!r}}}\n"


def test_a_storm_of_deploys_deletes_rollbacks_and_calls(start_server):
    server = start_server("--idle-timeout", "2", "--max-workers", "6", "--timeout", "5")
    fds = server.live_descriptors
    resting_processes = len(server.settled_descendants())
    resting_fds = fds()
    sources = {}  # token -> source
    lock = threading.Lock()
    failures = []
    stop = time.monotonic() + STORM_SECONDS

    def client(seed):
        rng = random.Random(seed)
        count = 0
        while time.monotonic() < stop:
            name = rng.choice(NAMES)
            operation = rng.choices(list(ALLOWED), weights=[3, 1, 2, 10, 2, 2])[0]
            if operation == "deploy":
                count += 1
                token = f"{seed}-{count}"
                source = module(name, token, slow=rng.random() < 0.3)
                with lock:
                    sources[token] = source
                reply = server.deploy(name, source)
            elif operation == "delete":
                reply = server.request("DELETE", f"/functions/{name}")
            elif operation == "rollback":
                reply = server.request("POST", f"/functions/{name}/rollback?version={rng.randint(1, 4)}")
            elif operation == "invoke":
                reply = server.invoke(name, {})
                if reply.status == 200 and reply.json()["name"] != name:
                    failures.append(f"{name} answered with another function's code: {reply.body!r}")
            elif operation == "show":
                reply = server.request("GET", f"/functions/{name}")
            else:
                reply = server.request("GET", f"/functions/{name}/versions")
            if reply.status not in ALLOWED[operation]:
                failures.append(f"{operation} {name}: {reply!r}")
            elif reply.status in TYPES and reply.json()["error"]["type"] not in TYPES[reply.status]:
                failures.append(f"{operation} {name}: undocumented {reply!r}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    assert server.process.poll() is None, "the server survived"
    assert failures == []

    for name in NAMES:
        shown = server.request("GET", f"/functions/{name}")
        if shown.status == 404:
            assert server.invoke(name, {}).status == 404
            continue
        versions = server.request("GET", f"/functions/{name}/versions").json()
        serving = [v for v in versions["versions"] if v["version"] == versions["serving"]]
        assert [v["sha256"] for v in serving] == [shown.json()["sha256"]], "the source and the version list agree"
        answer = server.invoke(name, {}).json()
        source = sources[answer["token"]]
        assert hashlib.sha256(source.encode()).hexdigest() == shown.json()["sha256"], "the answer comes from that source"

    # Idle workers expire; what stays is the zygote and its spares, and the descriptors at rest.
    assert wait_until(lambda: len(server.descendants()) <= resting_processes, timeout=30), server.descendants()
    assert wait_until(lambda: fds() <= resting_fds, timeout=30), f"{fds()} descriptors, {resting_fds} at rest"
