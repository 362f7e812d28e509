"""Warm-path figures of two pyhost builds, alternated in one run on this machine: p50 latency at
c=1 (a keep-alive client) and wrk throughput at c=32, for hello and the pandas groupby example.

    /usr/bin/python3 python/bench_builds.py BEFORE_BINARY BEFORE_RUNTIME AFTER_BINARY AFTER_RUNTIME

Each binary runs with PYHOST_RUNTIME_DIR set to its runtime folder (python/ of its checkout).
ROUNDS=N (default 2) alternates the builds N times; the table shows medians. hello_server_cpu is
the server process's CPU (user and kernel) per hello call at c=1, and hello_worker_cpu its workers',
read from /proc over the same calls; not_found_server_cpu the server's per GET of a path no
route has (the HTTP layer alone). Needs wrk."""
import http.client, json, os, pathlib, socket, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import proctree  # noqa: E402

EXAMPLES = pathlib.Path(__file__).resolve().parent / "examples"
def orders(count=200):
    regions = ["north", "south", "east", "west", "center"]
    return {"orders": [{"region": regions[i % 5], "amount": round(10 + (i * 7.3) % 90, 2)} for i in range(count)]}
CASES = {"hello": ((EXAMPLES / "hello.py").read_text(), {"name": "bench"}),
         "pandas": ((EXAMPLES / "sales_by_region.py").read_text(), orders())}

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def start(binary, runtime):
    port = free_port(); data = tempfile.mkdtemp()
    env = {**os.environ, "PYHOST_RUNTIME_DIR": runtime}
    p = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5); c.request("GET", "/healthz")
            if c.getresponse().status == 200: break
        except OSError: time.sleep(0.05)
    for name, (source, _) in CASES.items():
        c = http.client.HTTPConnection("127.0.0.1", port); c.request("POST", f"/functions/{name}", source); r = c.getresponse(); r.read(); assert r.status == 201, r.status
    return p, port

def latency(port, name, n, server=None):
    """Median µs per call at c=1, and with `server` (its pid) the CPU µs per call of the server and of its workers."""
    body = json.dumps(CASES[name][1]).encode()
    c = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    def cpu():
        own = sum(proctree.cpu_seconds(server))
        return own, sum(sum(proctree.cpu_seconds(pid)) for pid in proctree.descendants(server))
    for i in range(n + 50):
        if i == 50 and server: before = cpu()
        t = time.perf_counter(); c.request("POST", f"/functions/{name}/invoke", body, {"Content-Type": "application/json"}); r = c.getresponse(); r.read()
        assert r.status == 200
        if i >= 50: samples.append((time.perf_counter() - t) * 1e6)
    if not server: return statistics.median(samples)
    after = cpu()
    return statistics.median(samples), (after[0] - before[0]) * 1e6 / n, (after[1] - before[1]) * 1e6 / n

def not_found_cpu(port, server, n=5000):
    """The server's CPU µs per keep-alive GET of a path no route has (a 404): the HTTP layer alone."""
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(n + 50):
        if i == 50: before = sum(proctree.cpu_seconds(server))
        c.request("GET", "/nope"); r = c.getresponse(); r.read()
        assert r.status == 404
    return (sum(proctree.cpu_seconds(server)) - before) * 1e6 / n

def throughput(port, name):
    body = json.dumps(CASES[name][1])
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as s:
        s.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'); s.write(f"wrk.body = {json.dumps(body)}\n")
    out = subprocess.run(["wrk", "-t2", "-c32", "-d5s", "-s", s.name, f"http://127.0.0.1:{port}/functions/{name}/invoke"], capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("Requests/sec")][0]
    non2xx = [l for l in out.splitlines() if "Non-2xx" in l]
    return float(line.split()[1]), non2xx

builds = {"before": (sys.argv[1], sys.argv[2]), "after": (sys.argv[3], sys.argv[4])}
results = {k: {"hello_p50": [], "hello_server_cpu": [], "hello_worker_cpu": [], "not_found_server_cpu": [], "pandas_p50": [], "hello_rps": [], "pandas_rps": []} for k in builds}
for round_ in range(int(os.environ.get("ROUNDS", "2"))):
    for label, (binary, runtime) in builds.items():
        p, port = start(binary, runtime)
        try:
            p50, server_cpu, worker_cpu = latency(port, "hello", 5000, server=p.pid)
            results[label]["hello_p50"].append(p50)
            results[label]["hello_server_cpu"].append(server_cpu); results[label]["hello_worker_cpu"].append(worker_cpu)
            results[label]["not_found_server_cpu"].append(not_found_cpu(port, p.pid))
            results[label]["pandas_p50"].append(latency(port, "pandas", 400))
            rps, bad = throughput(port, "hello"); results[label]["hello_rps"].append(rps)
            rps2, bad2 = throughput(port, "pandas"); results[label]["pandas_rps"].append(rps2)
            if bad or bad2: print(label, bad, bad2)
        finally:
            p.terminate(); p.wait()
print("| figure | before | after | after ÷ before |\n|---|---|---|---|")
for key in ["hello_p50", "hello_server_cpu", "hello_worker_cpu", "not_found_server_cpu", "pandas_p50", "hello_rps", "pandas_rps"]:
    b = statistics.median(results["before"][key]); a = statistics.median(results["after"][key])
    print(f"| {key} | {b:,.0f} | {a:,.0f} | {a/b:.2f} |")
print(json.dumps(results))
