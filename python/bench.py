#!/usr/bin/env python3
"""The warm-start benchmark: pyhost and its peers on the same handlers and requests, in one run.

It builds nothing: it starts a release build of `pyhost serve` (or uses --url), deploys hello and a
pandas groupby over 200 rows, and measures warm latency, cold starts, throughput and memory, then
the same handlers as (a) a new python3 per call, bare and under bwrap, (b) gunicorn --preload with
2 sync workers and uvicorn (uvloop, httptools) with 2 workers and a raw ASGI app, alone and behind
nginx over a Unix socket (two processes per call, as in pyhost), with the CPU each call costs,
(c) called in-process (the compute floor), (d) nginx answering a fixed body (the network
floor), and (e) the floor of pyhost's shape: SwiftNIO's HTTP/1 server (`http-floor`, built
beside pyhost) handing each call to a process per CPU that runs the handler with pyhost's own
channel code, unsandboxed. It prints markdown tables with the ratios and writes JSON (and a PNG
chart when matplotlib is importable).

    scripts/bench                      # installs wrk, bwrap, gunicorn, uvicorn, nginx; builds; runs this
    python/bench.py --duration 5 --json bench.json --png bench.png
"""

import argparse
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

PYTHON_DIR = pathlib.Path(__file__).resolve().parent
REPO = PYTHON_DIR.parent
sys.path.insert(0, str(PYTHON_DIR))
EXAMPLES = PYTHON_DIR / "examples"

import proctree  # noqa: E402
SYSTEM_PYTHON = "/usr/bin/python3"
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def orders(count=200):
    regions = ["north", "south", "east", "west", "centre"]
    return {"orders": [{"region": regions[i % 5], "amount": round(10 + (i * 7.3) % 90, 2)} for i in range(count)]}


HANDLERS = {
    "hello": (EXAMPLES / "hello.py", {"name": "Hugues"}),
    "pandas": (EXAMPLES / "sales_by_region.py", orders()),
}


# ---------------------------------------------------------------- measuring tools

def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=30):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, dict(response.headers), response.read()


def wait_for(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            http("GET", url, timeout=2)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def wait_for_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout} s")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def load(url, body, connections, duration, path_suffix="", headers=None):
    """Latency percentiles (µs) and requests per second, by wrk when installed."""
    if shutil.which("wrk"):
        return wrk(url + path_suffix, body, connections, duration, headers or {})
    return own_client(url + path_suffix, body, connections, duration, headers or {})


def wrk(url, body, connections, duration, headers):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        for name, value in headers.items():
            script.write(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
        script.write(f"wrk.body = {json.dumps(body.decode())}\n")
    threads = min(2, connections)
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "-s", script.name, url],
        capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
              "requests": int(re.search(r"(\d+) requests in", output).group(1))}
    for label, key in (("50%", "p50"), ("90%", "p90"), ("99%", "p99")):
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", output).groups()
        result[key] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["errors"] = int(errors.group(1)) if errors else 0
    return result


def own_client(url, body, connections, duration, headers):
    """A keep-alive client per connection in threads: the fallback when wrk is missing."""
    import concurrent.futures
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)

    def run():
        client = http.client.HTTPConnection(parts.hostname, parts.port)
        latencies, errors = [], 0
        deadline = time.perf_counter() + duration
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            client.request("POST", parts.path or "/", body, {"Content-Type": "application/json", **headers})
            response = client.getresponse()
            response.read()
            latencies.append((time.perf_counter() - started) * 1e6)
            errors += response.status != 200
        return latencies, errors

    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        results = list(pool.map(lambda _: run(), range(connections)))
    latencies = [value for values, _ in results for value in values]
    return {"rps": len(latencies) / duration, "requests": len(latencies), "p50": percentile(latencies, 0.5), "p90": percentile(latencies, 0.9),
            "p99": percentile(latencies, 0.99), "errors": sum(errors for _, errors in results)}


def pss_kib(pid):
    try:
        text = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    return int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1))


def cpu_per_call(server_pid, url, body, connections, duration, headers=None, backend_pid=None):
    """Throughput at `connections`, with the CPU each call cost, measured from /proc over the run:
    µs of user time in the server process and in its descendants (workers, with those that
    exited meanwhile), and µs of kernel time in all of them. The server's own figure includes
    its reaped children's: nothing for pyhost (its zygote lives on), the workers for a peer
    that replaced one. With `backend_pid` (a proxy in front of a Python server), the server is
    the proxy's tree and the workers the backend's. Also the context switches per call of the
    server's threads and of the workers': how often each went to sleep and was woken (or was
    preempted)."""
    def snapshot():
        if backend_pid:
            front, back = [server_pid, *proctree.descendants(server_pid)], [backend_pid, *proctree.descendants(backend_pid)]
        else:
            front, back = [server_pid], proctree.descendants(server_pid)
        front_cpu, back_cpu = [proctree.cpu_seconds(pid) for pid in front], [proctree.cpu_seconds(pid) for pid in back]
        return (sum(user for user, _ in front_cpu), sum(user for user, _ in back_cpu),
                sum(system for _, system in front_cpu + back_cpu),
                {pid: proctree.context_switches(pid) for pid in front}, {pid: proctree.context_switches(pid) for pid in back})

    def switches(before, after):
        # Per process: one that ended during the run takes its count with it (no parent keeps it).
        return sum(count - before.get(pid, 0) for pid, count in after.items() if count >= before.get(pid, 0))

    before = snapshot()
    result = load(url, body, connections, duration, headers=headers)
    after = snapshot()
    calls = max(1, result["requests"])
    server, workers, kernel = ((b - a) * 1e6 / calls for a, b in zip(before[:3], after[:3]))
    return {"rps": result["rps"], "cpu": {"server": server, "workers": workers, "kernel": kernel},
            "switches": {"server": switches(before[3], after[3]) / calls, "workers": switches(before[4], after[4]) / calls}}


# ---------------------------------------------------------------- pyhost

class Pyhost:
    def __init__(self, binary, url=None, arguments=()):
        self.process = None
        self.data_dir = None
        if url:
            self.url = url.rstrip("/")
            return
        self.data_dir = tempfile.mkdtemp(prefix="pyhost-bench-")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(pathlib.Path(self.data_dir) / "server.log", "wb")
        self.process = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", self.data_dir, *arguments],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.url + "/healthz")

    def deploy(self, name, source):
        status, _, body = http("POST", f"{self.url}/functions/{name}", source.encode())
        assert status == 201, body

    def invoke(self, name, payload):
        return http("POST", f"{self.url}/functions/{name}/invoke", json.dumps(payload).encode(),
                    {"Content-Type": "application/json"})

    def spares_settled(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, _, body = http("GET", self.url + "/healthz")
            workers = json.loads(body)["workers"]
            if workers["spare"] >= 2:
                return
            time.sleep(0.01)

    def stop(self):
        if self.process:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
            self.log.close()
            shutil.rmtree(self.data_dir, ignore_errors=True)


def measure_pyhost(server, duration, cold_runs):
    results = {"latency": {}, "throughput": {}}
    for name, (path, payload) in HANDLERS.items():
        server.deploy(f"bench-{name}", path.read_text())
        for _ in range(200):
            server.invoke(f"bench-{name}", payload)
        body = json.dumps(payload).encode()
        url = f"{server.url}/functions/bench-{name}/invoke"
        results["latency"][name] = load(url, body, 1, duration)
        results["throughput"][name] = {c: load(url, body, c, duration)["rps"] for c in (1, 8)}
        if server.process:
            measured = cpu_per_call(server.process.pid, url, body, 32, duration)
            results["throughput"][name][32] = measured["rps"]
            results.setdefault("cpu", {})[name] = measured["cpu"]
            results.setdefault("switches", {})[name] = measured["switches"]
        else:
            results["throughput"][name][32] = load(url, body, 32, duration)["rps"]

    if server.process:
        results["keyed"] = keyed_call_cost(server, duration)

    # What the sandbox costs a call: its layers are set up per worker, and a warm call makes three
    # syscalls in the worker (poll, read, write), each of which the seccomp filter evaluates.
    server.deploy("syscall-cost", SYSCALL_COST)
    results["sandboxed_syscall_ns"] = statistics.median(
        json.loads(server.invoke("syscall-cost", {})[2]) for _ in range(5))

    # The interpreter a worker runs the handler in: the pandas handler in a loop, in a worker.
    server.deploy("pandas-loop", handler_loop(HANDLERS["pandas"][0]))
    results["pandas_loop_us"] = statistics.median(
        json.loads(server.invoke("pandas-loop", HANDLERS["pandas"][1])[2]) for _ in range(3))

    hello_source = HANDLERS["hello"][0].read_text()
    deploy_to_response = []
    for run in range(cold_runs):
        server.spares_settled()
        started = time.perf_counter()
        server.deploy(f"cold-{run}", hello_source)
        status, _, _ = server.invoke(f"cold-{run}", {"name": "Hugues"})
        deploy_to_response.append((time.perf_counter() - started) * 1000)
        assert status == 200
    results["deploy_to_first_response_ms"] = statistics.median(deploy_to_response)

    if server.process:
        server.deploy("cold-call", hello_source)
        new_worker = []
        for _ in range(cold_runs):
            _, headers, _ = server.invoke("cold-call", {"name": "Hugues"})
            pid = int(headers["Pyhost-Worker"])
            os.kill(pid, signal.SIGKILL)
            while pathlib.Path(f"/proc/{pid}").exists():
                time.sleep(0.001)
            time.sleep(0.02)
            server.spares_settled()
            started = time.perf_counter()
            status, _, _ = server.invoke("cold-call", {"name": "Hugues"})
            new_worker.append((time.perf_counter() - started) * 1000)
            assert status == 200
        results["new_worker_call_ms"] = statistics.median(new_worker)

        zygote = proctree.children(server.process.pid)[0]
        worker_pids = {int(server.invoke(f"bench-{name}", payload)[1]["Pyhost-Worker"])
                       for name, (_, payload) in HANDLERS.items()}
        results["pss_zygote_mib"] = pss_kib(zygote) / 1024
        results["pss_worker_mib"] = max(pss_kib(pid) for pid in worker_pids) / 1024
    return results


def keyed_call_cost(server, duration, rounds=7):
    """What an invoker key adds to a call: one function called without a key and with one,
    alternated at c=32; medians of the server's user CPU per call and of throughput, and the
    median of each round's difference (pairs cancel the machine's slow drift). One function
    for both, so both use the same workers on the same event loops and only the key differs (a
    key is checked, counted and hidden from the handler on a public function as on a private one;
    what is private adds is a flag read)."""
    hello_source, payload = HANDLERS["hello"][0].read_text(), HANDLERS["hello"][1]
    server.deploy("bench-keyed", hello_source)
    status, _, body = http("POST", f"{server.url}/keys", json.dumps({"functions": ["bench-keyed"]}).encode(),
                           {"Content-Type": "application/json"})
    assert status == 201, body
    key = json.loads(body)["key"]
    request = json.dumps(payload).encode()
    url = f"{server.url}/functions/bench-keyed/invoke"
    status, _, body = http("POST", url, request, {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    assert status == 200, body
    samples = {"public": [], "keyed": []}
    for _ in range(rounds):
        for label, headers in (("public", {}), ("keyed", {"Authorization": f"Bearer {key}"})):
            measured = cpu_per_call(server.process.pid, url, request, 32, duration, headers)
            samples[label].append((measured["cpu"]["server"], measured["rps"]))
    result = {label: {"server_cpu": statistics.median(cpu for cpu, _ in values), "rps": statistics.median(rps for _, rps in values)}
              for label, values in samples.items()}
    result["extra_server_cpu"] = statistics.median(
        keyed[0] - public[0] for public, keyed in zip(samples["public"], samples["keyed"]))
    return result


# ---------------------------------------------------------------- peers

SYSCALL_COST = """
import os, time
def handle(request):
    started = time.perf_counter_ns()
    for _ in range(200_000):
        os.getppid()
    return (time.perf_counter_ns() - started) / 200_000
"""


def handler_loop(path, calls=300):
    """A function that calls the handler in `path` `calls` times and returns the CPU each took (µs)."""
    return path.read_text() + f"""
import time as _time
_handle = handle
def handle(request):
    for _ in range(30):
        _handle(request)
    started = _time.process_time()
    for _ in range({calls}):
        _handle(request)
    return (_time.process_time() - started) / {calls} * 1e6
"""


def python3_pandas_loop_us():
    """The same loop in Debian's python3, in a process of its own (one BLAS and numexpr thread)."""
    path, payload = HANDLERS["pandas"]
    script = handler_loop(path) + "\nimport json as _json, sys as _sys\nprint(handle(_json.load(_sys.stdin)))\n"
    return statistics.median(
        float(subprocess.run([SYSTEM_PYTHON, "-c", script], input=json.dumps(payload), env={**os.environ, **THREAD_ENV},
                             check=True, capture_output=True, text=True).stdout)
        for _ in range(3))


def unsandboxed_syscall_ns():
    namespace = {}
    exec(SYSCALL_COST, namespace)
    return statistics.median(namespace["handle"](None) for _ in range(5))


HARNESS = """
import importlib.util, json, sys
import pandas  # the original imported pandas in every call
from pyhost_runtime.codec import encode_result
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.stdout.buffer.write(encode_result(module.handle(json.loads(sys.stdin.buffer.read()))))
"""

PEER_APP = """
import importlib.util, json
from pyhost_runtime.codec import encode_result

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handle

HANDLERS = {HANDLERS}

def application(environ, start_response):
    \"\"\"WSGI, for gunicorn.\"\"\"
    handle = HANDLERS[environ["PATH_INFO"].strip("/")]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = encode_result(handle(json.loads(environ["wsgi.input"].read(length))))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

async def app(scope, receive, send):
    \"\"\"Raw ASGI, for uvicorn: no framework, the same handler call.\"\"\"
    handle = HANDLERS[scope["path"].strip("/")]
    request = b""
    while True:
        message = await receive()
        request += message.get("body", b"")
        if not message.get("more_body"):
            break
    body = encode_result(handle(json.loads(request)))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""

# The Python servers a team would put the same handlers behind, 2 worker processes each; "proxied
# uvicorn" is uvicorn behind nginx over a Unix socket, the same two crossings per call as pyhost's.
PEERS = {
    "gunicorn": ("gunicorn", ["-m", "gunicorn", "--preload", "-w", "2", "-b", "127.0.0.1:{port}", "bench_app:application"]),
    "uvicorn": ("uvicorn", ["-m", "uvicorn", "bench_app:app", "--workers", "2", "--loop", "uvloop", "--http", "httptools",
                            "--lifespan", "off", "--no-access-log", "--log-level", "warning", "--port", "{port}"]),
    "proxied uvicorn": ("uvicorn", ["-m", "uvicorn", "bench_app:app", "--workers", "2", "--loop", "uvloop", "--http",
                                    "httptools", "--lifespan", "off", "--no-access-log", "--log-level", "warning",
                                    "--uds", "{socket}"]),
}

# nginx in front of a server on a Unix socket, with keep-alive connections to it: the cheapest
# second process a call can cross on its way to Python.
PROXY_CONF = """
worker_processes 2;
daemon off;
user root;
pid {dir}/proxy.pid;
error_log {dir}/proxy-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  client_body_buffer_size 64k;
  upstream backend {{ server unix:{socket}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""

# A process behind python/bench.py's shape floor (Sources/http-floor): pyhost's own channel code
# and codec around the same handlers, with no sandbox, no capture and no call metadata.
RELAY_WORKER = """
from pyhost_runtime.channel import Channel, RESULT
from pyhost_runtime.codec import decode_request, encode_result
from bench_app import HANDLERS

channel = Channel(0)
while (message := channel.read()) is not None:
    name, _, body = message[1].partition(b"\\n")
    channel.write(RESULT, encode_result(HANDLERS[name.decode()](decode_request(body))))
"""


NGINX_CONF = """
worker_processes 1;
daemon off;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{{"message":"Hello Hugues"}}'; }}
  }}
}}
"""


# ---------------------------------------------------------------- packages

# The init duration published for an AWS Lambda function with a pandas layer, a cold start's extra
# cost: quoted for comparison, not measured here.
LAMBDA_PANDAS_INIT_MS = 3700
PACKAGE_HANDLER = "import tinypkg{n}\ndef handle(request):\n    return {{'message': tinypkg{n}.GREETING + request['name']}}\n"


def measure_packages(binary, runs, duration):
    """Deploys of functions with `# /// script` requirements from a local wheel folder: a first
    deploy (pip, a new environment, its zygote), a deploy whose environment exists, and a warm
    call with and without an environment; then a python3 per call importing the same packages."""
    sys.path.insert(0, str(PYTHON_DIR / "tests" / "e2e"))
    import wheelhouse

    work = pathlib.Path(tempfile.mkdtemp(prefix="pyhost-bench-packages-"))
    try:
        wheels = wheelhouse.build(work / "wheels", [
            wheelhouse.package(f"tinypkg{n}", "1.0", "GREETING = 'Hello '\n") for n in range(runs + 1)])
        server = Pyhost(binary, arguments=["--no-index", "--find-links", str(wheels)])
        try:
            def deploy_then_call(name, n):
                started = time.perf_counter()
                server.deploy(name, wheelhouse.block(f"tinypkg{n}") + PACKAGE_HANDLER.format(n=n))
                status, _, _ = server.invoke(name, {"name": "Hugues"})
                assert status == 200
                return (time.perf_counter() - started) * 1000

            first = [deploy_then_call(f"first-{n}", n) for n in range(runs)]
            existing = [deploy_then_call(f"again-{n}", runs) for n in range(runs)]
            body = json.dumps({"name": "Hugues"}).encode()
            server.deploy("plain", HANDLERS["hello"][0].read_text())
            for name in ("plain", "again-0"):
                for _ in range(200):
                    server.invoke(name, {"name": "Hugues"})
            warm = {name: load(f"{server.url}/functions/{name}/invoke", body, 1, duration)["p50"]
                    for name in ("plain", "again-0")}
            # The same packages in a new python3 per call: the handler's imports, pandas included.
            site = next((pathlib.Path(server.data_dir) / "environments").glob(f"*/site-packages/tinypkg{runs}")).parent
            command = [SYSTEM_PYTHON, "-c", f"import json, pandas, tinypkg{runs}; print(json.dumps(tinypkg{runs}.GREETING))"]
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                subprocess.run(command, capture_output=True, check=True, env={**THREAD_ENV, "PYTHONPATH": str(site)})
                timings.append((time.perf_counter() - started) * 1000)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"first_deploy_ms": statistics.median(first), "existing_environment_deploy_ms": statistics.median(existing),
            "warm_p50_us": warm["again-0"], "warm_p50_without_us": warm["plain"],
            "process_per_call_ms": statistics.median(timings), "lambda_pandas_init_ms": LAMBDA_PANDAS_INIT_MS}


def report_packages(packages):
    lines = ["| figure | pyhost | python3 per call, same packages | Lambda, pandas layer init (published) |",
             "|---|---|---|---|"]
    lines.append(f"| first deploy of a new requirement → first response p50 (ms) | {fmt(packages['first_deploy_ms'])} | "
                 f"{fmt(packages['process_per_call_ms'])} | {fmt(packages['lambda_pandas_init_ms'])} |")
    lines.append(f"| deploy whose environment exists → first response p50 (ms) | "
                 f"{fmt(packages['existing_environment_deploy_ms'])} | {fmt(packages['process_per_call_ms'])} | |")
    lines.append(f"| warm hello p50 c=1 with an environment (µs) | {fmt(packages['warm_p50_us'])} | | |")
    lines.append(f"| warm hello p50 c=1 without (µs) | {fmt(packages['warm_p50_without_us'])} | | |")
    return "\n".join(lines)


def process_per_call(runs, sandboxed):
    if sandboxed and not shutil.which("bwrap"):
        return None
    with tempfile.TemporaryDirectory() as directory:
        harness = pathlib.Path(directory) / "harness.py"
        harness.write_text(HARNESS)
        results = {}
        for name, (path, payload) in HANDLERS.items():
            command = [SYSTEM_PYTHON, str(harness), str(path)]
            if sandboxed:
                command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent", "--setenv", "PYTHONPATH", str(PYTHON_DIR), *command]
            body = json.dumps(payload).encode()
            environment = {**os.environ, **THREAD_ENV, "PYTHONPATH": str(PYTHON_DIR)}
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                subprocess.run(command, input=body, capture_output=True, check=True, env=environment)
                timings.append((time.perf_counter() - started) * 1e6)
            results[name] = {"p50": statistics.median(timings), "p90": percentile(timings, 0.9),
                             "p99": max(timings), "rps": 1e6 / statistics.median(timings)}
        return results


def peer_app():
    """PEER_APP with the handlers it serves, for a peer's or the shape floor's processes to import."""
    loads = ", ".join(f"{name!r}: load({name!r}, {str(path)!r})" for name, (path, _) in HANDLERS.items())
    return PEER_APP.replace("{HANDLERS}", "{" + loads + "}")


def python_peer(peer, duration):
    """Latency, throughput and CPU per call of the handlers behind `peer` (a key of PEERS); None
    when it is not installed (scripts/bench installs it)."""
    module, arguments = PEERS[peer]
    if subprocess.run([SYSTEM_PYTHON, "-c", f"import {module}"], capture_output=True).returncode != 0:
        return None
    with tempfile.TemporaryDirectory() as directory:
        (pathlib.Path(directory) / "bench_app.py").write_text(peer_app())
        port = free_port()
        backend_socket = f"{directory}/backend.sock"
        environment = {**os.environ, **THREAD_ENV, "PYTHONPATH": f"{directory}:{PYTHON_DIR}"}
        process = subprocess.Popen(
            [SYSTEM_PYTHON, *(argument.replace("{port}", str(port)).replace("{socket}", backend_socket) for argument in arguments)],
            cwd=directory, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proxy = None
        if "{socket}" in arguments:
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            if not os.path.exists(nginx):
                process.terminate()
                process.wait()
                return None
            deadline = time.monotonic() + 30
            while not os.path.exists(backend_socket) and time.monotonic() < deadline:
                time.sleep(0.05)
            conf = pathlib.Path(directory) / "proxy.conf"
            conf.write_text(PROXY_CONF.format(dir=directory, port=port, socket=backend_socket))
            proxy = subprocess.Popen([nginx, "-c", str(conf), "-p", directory],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(f"http://127.0.0.1:{port}/")  # a 500 on GET still means it is up
        except Exception:
            pass
        front, backend = (proxy.pid, process.pid) if proxy else (process.pid, None)
        try:
            results = {"latency": {}, "throughput": {}, "cpu": {}, "switches": {}}
            for name, (_, payload) in HANDLERS.items():
                body = json.dumps(payload).encode()
                url = f"http://127.0.0.1:{port}/{name}"
                load(url, body, 1, 1)
                results["latency"][name] = load(url, body, 1, duration)
                results["throughput"][name] = {c: load(url, body, c, duration)["rps"] for c in (1, 8)}
                measured = cpu_per_call(front, url, body, 32, duration, backend_pid=backend)
                results["throughput"][name][32] = measured["rps"]
                results["cpu"][name] = measured["cpu"]
                results["switches"][name] = measured["switches"]
            return results
        finally:
            for running in filter(None, (proxy, process)):
                running.terminate()
                running.wait()


def shape_floor(binary, duration):
    """The same figures for the floor of pyhost's shape (Sources/http-floor, built beside pyhost):
    SwiftNIO's HTTP/1 server answering a fixed body ("alone"), and relaying each call to one of a
    process per CPU running the handlers with pyhost's channel code ("relay"); None when it is
    not built."""
    floor = pathlib.Path(binary).parent / "http-floor"
    if not floor.exists():
        return None
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        (pathlib.Path(directory) / "bench_app.py").write_text(peer_app())
        (pathlib.Path(directory) / "relay_worker.py").write_text(RELAY_WORKER)
        environment = {**os.environ, **THREAD_ENV, "PYTHONPATH": f"{directory}:{PYTHON_DIR}"}
        for mode, command in (("alone", []), ("relay", [SYSTEM_PYTHON, f"{directory}/relay_worker.py"])):
            port = free_port()
            # Its processes' output is dropped: a call in flight when it stops ends in a broken pipe.
            process = subprocess.Popen([str(floor), str(port), *command], env=environment, cwd=directory,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for_port(port)
                results[mode] = {"latency": {}, "throughput": {}, "cpu": {}, "switches": {}}
                for name, (_, payload) in HANDLERS.items() if mode == "relay" else [("hello", HANDLERS["hello"])]:
                    body = json.dumps(payload).encode()
                    url = f"http://127.0.0.1:{port}/{name}"
                    load(url, body, 1, 1)
                    results[mode]["latency"][name] = load(url, body, 1, duration)
                    measured = cpu_per_call(process.pid, url, body, 32, duration)
                    results[mode]["throughput"][name] = {32: measured["rps"]}
                    results[mode]["cpu"][name] = measured["cpu"]
                    results[mode]["switches"][name] = measured["switches"]
            finally:
                process.terminate()
                process.wait()
    return results


def in_process(iterations):
    from pyhost_runtime.codec import decode_request, encode_result
    from pyhost_runtime.loader import load as load_module

    results = {}
    for name, (path, payload) in HANDLERS.items():
        handle = load_module(f"inproc_{name}", path.read_text())
        body = json.dumps(payload).encode()
        timings = []
        for _ in range(iterations if name == "hello" else iterations // 10):
            started = time.perf_counter()
            encode_result(handle(decode_request(body)))
            timings.append((time.perf_counter() - started) * 1e6)
        results[name] = {"p50": statistics.median(timings), "p90": percentile(timings, 0.9),
                         "p99": percentile(timings, 0.99)}
    return results


def network_floor(duration):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        return None
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        conf = pathlib.Path(directory) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=directory, port=port))
        process = subprocess.Popen([nginx, "-c", str(conf), "-p", directory],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(f"http://127.0.0.1:{port}/")
            body = json.dumps(HANDLERS["hello"][1]).encode()
            url = f"http://127.0.0.1:{port}/"
            return {"latency": load(url, body, 1, duration), "rps32": load(url, body, 32, duration)["rps"]}
        finally:
            process.terminate()
            process.wait()


# ---------------------------------------------------------------- report

def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "–"


def pick(result, *keys):
    """result[key][key]…, or None where a level is missing."""
    for key in keys:
        result = result.get(key) if isinstance(result, dict) else None
    return result


def fmt(value):
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def report(r):
    pyhost, guni, uvi, floor = r["pyhost"], r.get("gunicorn"), r.get("uvicorn"), r.get("floor")
    proxied = r.get("proxied uvicorn")
    bare, boxed, inproc = r.get("process_per_call"), r.get("bwrap_per_call"), r["in_process"]
    rows = []

    def row(label, mine, gunicorn_value=None, uvicorn_value=None, bare_value=None, boxed_value=None, inproc_value=None,
            floor_value=None, proxied_value=None, ratios=True):
        shown = ratio if ratios else lambda *_: "–"
        rows.append([label, fmt(mine), fmt(gunicorn_value), fmt(uvicorn_value), fmt(proxied_value), fmt(bare_value),
                     fmt(boxed_value), fmt(inproc_value), fmt(floor_value), shown(mine, gunicorn_value),
                     shown(mine, uvicorn_value), shown(mine, proxied_value), shown(mine, bare_value),
                     shown(mine, floor_value)])

    for name in HANDLERS:
        for p in ("p50", "p90", "p99"):
            row(f"{name} warm latency {p} c=1 (µs)", pyhost["latency"][name][p],
                pick(guni, "latency", name, p), pick(uvi, "latency", name, p), bare and bare[name][p],
                boxed and boxed[name][p], inproc[name][p], floor and name == "hello" and floor["latency"][p] or None,
                pick(proxied, "latency", name, p))
        if guni:
            row(f"{name} 1/throughput c=1 (µs)", 1e6 / pyhost["throughput"][name][1],
                1e6 / guni["throughput"][name][1], uvi and 1e6 / uvi["throughput"][name][1],
                bare and bare[name]["p50"], boxed and boxed[name]["p50"],
                proxied_value=proxied and 1e6 / proxied["throughput"][name][1])
    for name in HANDLERS:
        for c in (1, 8, 32):
            row(f"{name} throughput c={c} (req/s)", pyhost["throughput"][name][c],
                pick(guni, "throughput", name, c), pick(uvi, "throughput", name, c),
                bare and c == 1 and bare[name]["rps"] or None, boxed and c == 1 and boxed[name]["rps"] or None, None,
                floor and name == "hello" and c == 32 and floor["rps32"] or None, pick(proxied, "throughput", name, c))
    for name in HANDLERS:
        for part in ("server", "workers", "kernel"):
            if pick(pyhost, "cpu", name):
                row(f"{name} CPU per call at c=32, {part} (µs)", pyhost["cpu"][name][part],
                    pick(guni, "cpu", name, part), pick(uvi, "cpu", name, part),
                    proxied_value=pick(proxied, "cpu", name, part))
        for part in ("server", "workers"):
            if pick(pyhost, "switches", name):
                row(f"{name} context switches per call at c=32, {part}", pyhost["switches"][name][part],
                    pick(guni, "switches", name, part), pick(uvi, "switches", name, part),
                    proxied_value=pick(proxied, "switches", name, part), ratios=False)
    if "keyed" in pyhost:
        keyed = pyhost["keyed"]
        row("hello at c=32, no key: server CPU per call (µs)", keyed["public"]["server_cpu"])
        row("hello at c=32, with a key: server CPU per call (µs)", keyed["keyed"]["server_cpu"])
        row("hello at c=32, no key (req/s)", keyed["public"]["rps"])
        row("hello at c=32, with a key (req/s)", keyed["keyed"]["rps"])
    row("deploy → first response p50 (ms)", pyhost["deploy_to_first_response_ms"],
        bare_value=bare and bare["hello"]["p50"] / 1000, boxed_value=boxed and boxed["hello"]["p50"] / 1000)
    row("a syscall (getppid) in a sandboxed worker (ns)", pyhost["sandboxed_syscall_ns"],
        inproc_value=r["unsandboxed_syscall_ns"])
    if "pandas_loop_us" in pyhost:
        row("pandas handler in a loop, CPU per call in a worker (µs)", pyhost["pandas_loop_us"],
            inproc_value=r.get("python3_pandas_loop_us"))
    if "new_worker_call_ms" in pyhost:
        row("call needing a new worker p50 (ms)", pyhost["new_worker_call_ms"],
            bare_value=bare and bare["hello"]["p50"] / 1000, boxed_value=boxed and boxed["hello"]["p50"] / 1000)
        row("PSS of the zygote (MiB)", pyhost["pss_zygote_mib"])
        row("PSS per warm worker, largest (MiB)", pyhost["pss_worker_mib"])

    header = ["figure", "pyhost", "gunicorn", "uvicorn", "uvicorn behind nginx", "python3/call", "bwrap/call",
              "in-process", "network floor", "÷ gunicorn", "÷ uvicorn", "÷ behind nginx", "÷ python3/call", "÷ floor"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def report_shape_floor(r):
    """pyhost against the floor of its shape (`shape_floor`), with uvicorn for scale."""
    pyhost, shape, uvi = r["pyhost"], r["shape floor"], r.get("uvicorn")
    alone, relay = shape.get("alone"), shape["relay"]
    rows = []

    def row(label, *path):
        mine, floor, bare, peer = (pick(result, *path) for result in (pyhost, relay, alone, uvi))
        rows.append([label, fmt(mine), fmt(floor), fmt(bare), fmt(peer), ratio(mine, floor), ratio(floor, peer)])

    for name in HANDLERS:
        row(f"{name} warm latency p50 c=1 (µs)", "latency", name, "p50")
        row(f"{name} throughput c=32 (req/s)", "throughput", name, 32)
        for part in ("server", "workers", "kernel"):
            row(f"{name} CPU per call at c=32, {part} (µs)", "cpu", name, part)
        row(f"{name} context switches per call at c=32, server", "switches", name, "server")
    header = ["figure", "pyhost", "shape floor", "shape floor, no process", "uvicorn", "pyhost ÷ shape floor",
              "shape floor ÷ uvicorn"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])


def targets(r):
    pyhost, guni, floor, bare = r["pyhost"], r.get("gunicorn"), r.get("floor"), r.get("process_per_call")
    uvi = r.get("uvicorn")
    checks = []
    if uvi:
        latency, throughput = pyhost["latency"], pyhost["throughput"]
        checks.append(("warm hello p50 ≤ 1.25 × uvicorn", latency["hello"]["p50"] / (1.25 * uvi["latency"]["hello"]["p50"]), 1))
        checks.append(("warm pandas p50 ≤ 1.1 × uvicorn", latency["pandas"]["p50"] / (1.1 * uvi["latency"]["pandas"]["p50"]), 1))
        checks.append(("hello throughput c=32 ≥ 0.5 × uvicorn", 0.5 * uvi["throughput"]["hello"][32] / throughput["hello"][32], 1))
        checks.append(("pandas throughput c=32 ≥ 1 × uvicorn", uvi["throughput"]["pandas"][32] / throughput["pandas"][32], 1))
    if guni:
        checks.append(("warm hello p50 ≤ 1 × gunicorn", pyhost["latency"]["hello"]["p50"] / guni["latency"]["hello"]["p50"], 1))
        checks.append(("hello throughput c=32 ≥ 2 × gunicorn", guni["throughput"]["hello"][32] * 2 / pyhost["throughput"]["hello"][32], 1))
        checks.append(("pandas throughput c=32 ≥ 1 × gunicorn", guni["throughput"]["pandas"][32] / pyhost["throughput"]["pandas"][32], 1))
    if floor:
        checks.append(("warm hello p50 ≤ 2 × network floor", pyhost["latency"]["hello"]["p50"] / (2 * floor["latency"]["p50"]), 1))
    checks.append(("deploy → first response ≤ 20 ms p50", pyhost["deploy_to_first_response_ms"] / 20, 1))
    if bare:
        checks.append(("deploy → first response ≥ 15 × faster than python3/call",
                       pyhost["deploy_to_first_response_ms"] * 15 / (bare["hello"]["p50"] / 1000), 1))
    if "keyed" in pyhost:
        checks.append(("a keyed call adds < 5 µs of server CPU", pyhost["keyed"]["extra_server_cpu"] / 5, 1))
    if "new_worker_call_ms" in pyhost:
        checks.append(("call needing a new worker ≤ 5 ms p50", pyhost["new_worker_call_ms"] / 5, 1))
        checks.append(("PSS per warm worker ≤ 15 MB", pyhost["pss_worker_mib"] * 1.048576 / 15, 1))
    lines = ["| target | measured ÷ target (≤ 1 meets it) | met |", "|---|---|---|"]
    lines += [f"| {label} | {value:.2f} | {'yes' if value <= limit else 'no'} |" for label, value, limit in checks]
    return "\n".join(lines)


def chart(r, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels, values = [], []
    for label, value in [("pyhost", r["pyhost"]["latency"]["hello"]["p50"]),
                         ("gunicorn", r.get("gunicorn") and r["gunicorn"]["latency"]["hello"]["p50"]),
                         ("network floor", r.get("floor") and r["floor"]["latency"]["p50"]),
                         ("in-process", r["in_process"]["hello"]["p50"])]:
        if value:
            labels.append(label)
            values.append(value)
    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.barh(labels, values, color="#3572A5")
    axis.set_xlabel("hello, warm p50 latency at c=1 (µs)")
    for index, value in enumerate(values):
        axis.text(value, index, f" {value:.0f} µs", va="center")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(REPO / ".build" / "release" / "pyhost"))
    parser.add_argument("--url", help="a running pyhost to measure instead of starting one")
    parser.add_argument("--duration", type=float, default=5, help="seconds per load measurement")
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--process-runs", type=int, default=10)
    parser.add_argument("--json", default="bench-results.json")
    parser.add_argument("--png", default="bench-results.png")
    parser.add_argument("--only", choices=["all", "packages"], default="all", help="measure only the packages section")
    arguments = parser.parse_args()
    if not arguments.url and not os.path.exists(arguments.binary):
        sys.exit(f"{arguments.binary} is missing: build it with `swift build -c release` (scripts/bench does)")

    duration = arguments.duration
    results = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                           "date": time.strftime("%Y-%m-%d"), "load_tool": "wrk" if shutil.which("wrk") else "python client"}}
    if arguments.only == "packages":
        print(report_packages(measure_packages(arguments.binary, arguments.cold_runs, duration)))
        return
    server = Pyhost(arguments.binary, arguments.url)
    try:
        results["pyhost"] = measure_pyhost(server, duration, arguments.cold_runs)
    finally:
        server.stop()
    results["gunicorn"] = python_peer("gunicorn", duration)
    results["uvicorn"] = python_peer("uvicorn", duration)
    results["proxied uvicorn"] = python_peer("proxied uvicorn", duration)
    results["floor"] = network_floor(duration)
    results["shape floor"] = shape_floor(arguments.binary, duration)
    results["in_process"] = in_process(2000)
    results["unsandboxed_syscall_ns"] = unsandboxed_syscall_ns()
    results["python3_pandas_loop_us"] = python3_pandas_loop_us()
    results["process_per_call"] = process_per_call(arguments.process_runs, sandboxed=False)
    results["bwrap_per_call"] = process_per_call(arguments.process_runs, sandboxed=True)
    if not arguments.url:
        results["packages"] = measure_packages(arguments.binary, min(arguments.cold_runs, 7), duration)

    machine = results["machine"]
    print(f"pyhost benchmark, {machine['date']}: {machine['cpus']} CPUs, Linux {machine['kernel']}, "
          f"load by {machine['load_tool']}, {duration:g} s per load figure\n")
    print(report(results))
    print()
    print(targets(results))
    if results["shape floor"]:
        print()
        print(report_shape_floor(results))
    if "packages" in results:
        print()
        print(report_packages(results["packages"]))
    pathlib.Path(arguments.json).write_text(json.dumps(results, indent=2, default=str))
    if chart(results, arguments.png):
        print(f"\nwrote {arguments.json} and {arguments.png}")
    else:
        print(f"\nwrote {arguments.json} (no chart: matplotlib is not importable)")


if __name__ == "__main__":
    main()
