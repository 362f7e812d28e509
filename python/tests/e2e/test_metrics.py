"""GET /metrics in Prometheus text format."""

import re


def metric(text, name, **labels):
    """The value of one sample, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(3))
    return None


def test_metrics_count_invocations_durations_workers_and_deaths(server):
    server.deploy("measured", "def handle(r):\n    return 1 / r\n")
    for value in (1, 2, 0):
        server.invoke("measured", value)
    server.deploy("dies", "import os\ndef handle(r):\n    os._exit(4)\n")
    server.invoke("dies", {})
    reply = server.request("GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    text = reply.body.decode()
    assert metric(text, "pyhost_invocations_total", function="measured", status="200") == 2
    assert metric(text, "pyhost_invocations_total", function="measured", status="500") == 1
    assert metric(text, "pyhost_invocation_duration_seconds_count", function="measured") == 3
    assert metric(text, "pyhost_worker_deaths_total", cause="exit") >= 1
    assert metric(text, "pyhost_workers", state="live") >= 1
    assert metric(text, "pyhost_workers", state="spare") is not None
    assert metric(text, "pyhost_queue_depth") == 0
    assert metric(text, "pyhost_function_workers", function="measured", state="live") >= 1
    assert metric(text, "pyhost_function_workers", function="measured", state="busy") == 0
    assert metric(text, "pyhost_function_queue_depth", function="measured") == 0
    assert "# TYPE pyhost_invocation_duration_seconds histogram" in text


def test_cold_starts_are_counted(server):
    server.deploy("cold-counted", "import os\ndef handle(r):\n    if r:\n        os._exit(1)\n    return 0\n")
    server.invoke("cold-counted", 1)
    server.invoke("cold-counted", 0)
    text = server.request("GET", "/metrics").body.decode()
    assert metric(text, "pyhost_cold_starts_total", function="cold-counted") == 1


def test_a_thrown_404_counts_as_404_and_a_call_as_200(server):
    server.deploy("counted", "def handle(r):\n    return r\n")
    assert server.request("GET", "/functions/never-deployed").status == 404
    assert server.invoke("counted", 1).status == 200
    text = server.request("GET", "/metrics").body.decode()
    route = {"http_route": "/functions/{name}", "http_request_method": "GET"}
    assert metric(text, "http_server_requests_total", **route, http_response_status_code="404") == 1
    assert metric(text, "http_server_requests_total", **route, http_response_status_code="500") is None
    invoke = {"http_route": "/functions/{name}/invoke", "http_request_method": "POST"}
    assert metric(text, "http_server_requests_total", **invoke, http_response_status_code="200") >= 1
    assert metric(text, "http_server_request_duration_seconds_count", **route, http_response_status_code="404") == 1


def test_every_family_says_what_it_measures_and_names_its_unit(server):
    server.invoke("never-deployed", {})
    text = server.request("GET", "/metrics").body.decode()
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    helped = dict(re.findall(r"^# HELP (\S+) (.+)$", text, re.MULTILINE))
    assert "http_server_requests_total" in families and "pyhost_workers" in families
    assert [name for name in families if not helped.get(name)] == []
    assert [name for name, kind in families.items() if kind == "counter" and not name.endswith("_total")] == []
    assert [name for name, kind in families.items() if kind == "histogram" and not name.endswith("_seconds")] == []
