"""Three real nodes sharing a real PostgreSQL behind real nginx: propagation, faults, logs, races.

The tests share one cluster and run in order; each leaves it serving. They skip, saying why, only
where PostgreSQL 15 is not installed (scripts/test installs Debian's postgresql and nginx-light)."""

import concurrent.futures
import signal
import threading
import time

import pytest

from cluster import Cluster, postgres_installed
from server import run_to_exit, wait_until
from wheelhouse import block

pytestmark = pytest.mark.skipif(not postgres_installed(),
                                reason="PostgreSQL 15 is not installed: scripts/test installs Debian's postgresql")


def module(version):
    return f"def handle(request):\n    print('served by version {version}')\n    return {{'version': {version}}}\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, wheels):
    instance = Cluster(tmp_path_factory.mktemp("cluster"), arguments=("--no-index", "--find-links", str(wheels)))
    yield instance
    # Every node still running stops cleanly on SIGTERM; the third was killed by a test.
    assert instance.stop() == [0, 0, -signal.SIGKILL]


def deploy(node, name, version):
    reply = node.deploy(name, module(version))
    assert reply.status == 201, reply
    return reply.json()["version"]


def set_access(node, name, body):
    reply = node.request("PUT", f"/functions/{name}/access", body, {"Content-Type": "application/json"})
    assert reply.status == 200, reply


def test_a_deploy_on_one_node_serves_on_every_node_within_a_second(cluster):
    first, *_ = cluster.nodes
    assert deploy(first, "shared", 1) == 1
    assert cluster.wait_served("shared", 1, timeout=1.0) is not None, "not every node serves version 1 within 1 s"
    answers = [cluster.front.invoke("shared", {}) for _ in range(9)]
    assert [(reply.status, reply.json()) for reply in answers] == [(200, {"version": 1})] * 9
    assert deploy(cluster.nodes[1], "shared", 2) == 2
    assert cluster.wait_served("shared", 2, timeout=1.0) is not None, "not every node serves version 2 within 1 s"
    assert {cluster.front.invoke("shared", {}).json()["version"] for _ in range(6)} == {2}


def test_rollback_and_delete_propagate(cluster):
    first, second, third = cluster.nodes
    deploy(first, "undone", 1)
    deploy(first, "undone", 2)
    assert cluster.wait_served("undone", 2) is not None
    reply = second.request("POST", "/functions/undone/rollback?version=1")
    assert reply.status == 200, reply
    assert cluster.wait_served("undone", 1, timeout=1.0) is not None, "the rollback did not reach every node within 1 s"
    assert third.invoke("undone", {}).json() == {"version": 1}
    assert third.request("DELETE", "/functions/undone").status == 204
    assert cluster.wait_served("undone", None, timeout=1.0) is not None, "the delete did not reach every node within 1 s"
    assert all(node.invoke("undone", {}).status == 404 for node in cluster.nodes)


def test_access_and_key_changes_propagate(cluster):
    first, second, third = cluster.nodes
    deploy(first, "guarded", 1)
    set_access(first, "guarded", '{"access": "private"}')
    assert wait_until(lambda: second.invoke("guarded", {}).status == 401, timeout=1.0)
    assert second.invoke("guarded", {}).json()["error"]["type"] == "KeyRequired"
    made = first.request("POST", "/keys", '{"functions": ["guarded"]}', {"Content-Type": "application/json"})
    assert made.status == 201, made
    key = made.json()

    def call(node):
        return node.request("POST", "/functions/guarded/invoke", "{}", {"Authorization": f"Bearer {key['key']}"})

    assert wait_until(lambda: call(third).status == 200, timeout=1.0), "the key did not reach every node within 1 s"
    assert third.request("DELETE", f"/keys/{key['id']}").status == 204
    assert wait_until(lambda: call(first).status == 401, timeout=1.0), "the revocation did not reach every node within 1 s"
    assert call(first).json()["error"]["type"] == "InvalidKey"


def test_the_logs_of_any_node_show_every_nodes_calls(cluster):
    first, *_ = cluster.nodes
    deploy(first, "logged", 1)
    assert cluster.wait_served("logged", 1) is not None
    calls = [cluster.front.invoke("logged", {}) for _ in range(6)]
    ids = {reply.headers["Pyhost-Invocation-Id"] for reply in calls}

    def records():
        return cluster.nodes[2].request("GET", "/functions/logged/logs").json()["invocations"]

    assert wait_until(lambda: ids <= {record["invocation_id"] for record in records()}, timeout=3)
    shown = [record for record in records() if record["invocation_id"] in ids]
    assert {record["node"] for record in shown} == {"node0", "node1", "node2"}, "round robin reaches every node"
    assert {record["logs"] for record in shown} == {"served by version 1\n"}


def test_a_slow_load_holds_up_no_other_functions_change(cluster):
    first, second, third = cluster.nodes
    deploy(first, "quick", 1)
    assert cluster.wait_served("quick", 1) is not None
    slow = first.deploy("slow", "import time\ntime.sleep(3)\ndef handle(request):\n    return 1\n")
    assert slow.status == 201, slow
    # The other nodes now spend 3 s loading "slow"; a delete of another function does not wait.
    assert first.request("DELETE", "/functions/quick").status == 204
    assert cluster.wait_served("quick", None, timeout=1.0) is not None, "the delete waited for another function's load"
    assert cluster.wait_served("slow", 1, timeout=10) is not None


def test_a_nul_a_handler_prints_loses_no_other_record(cluster):
    first, *_ = cluster.nodes
    first.deploy("nul", "def handle(request):\n    print('before\\x00after')\n    return 1\n")
    deploy(first, "plain-logged", 1)
    # The second node reads the logs, so it must know both functions (until then it answers 404).
    assert cluster.wait_served("nul", 1) is not None and cluster.wait_served("plain-logged", 1) is not None
    assert first.invoke("nul", {}).status == 200
    plain = first.invoke("plain-logged", {}).headers["Pyhost-Invocation-Id"]

    def ids(name):
        return {record["invocation_id"] for record in cluster.nodes[1].request("GET", f"/functions/{name}/logs").json()["invocations"]}

    assert wait_until(lambda: plain in ids("plain-logged"), timeout=3)
    logs = cluster.nodes[1].request("GET", "/functions/nul/logs").json()["invocations"]
    assert [record["logs"] for record in logs] == ["before\ufffdafter\n"]


def test_a_deleted_functions_records_do_not_come_back(cluster):
    first, second, _ = cluster.nodes
    deploy(first, "forgotten", 1)
    assert cluster.wait_served("forgotten", 1) is not None
    for _ in range(20):
        assert second.invoke("forgotten", {}).status == 200
    assert first.request("DELETE", "/functions/forgotten").status == 204
    assert cluster.wait_served("forgotten", None) is not None
    deploy(first, "forgotten", 1)  # the same version number, while the second node may still queue records
    assert cluster.wait_served("forgotten", 1) is not None
    fresh = second.invoke("forgotten", {}).headers["Pyhost-Invocation-Id"]

    def ids():
        return [record["invocation_id"] for record in first.request("GET", "/functions/forgotten/logs").json()["invocations"]]

    # The second node writes its queue in order, so once the fresh call is shared the old ones were too.
    assert wait_until(lambda: fresh in ids(), timeout=3)
    assert ids() == [fresh]


def test_a_deploys_access_keeps_a_rate_set_on_another_node(cluster):
    first, second, _ = cluster.nodes
    deploy(first, "limited", 1)
    set_access(first, "limited", '{"access": "public", "rate_per_second": 2}')
    # At once, before the second node may have seen it: a deploy there that makes it private.
    assert second.deploy("limited?access=private", module(2)).status == 201
    def shown():
        access = first.request("GET", "/functions/limited/access").json()
        return access["access"], access["rate_per_second"]

    # The first node learns of the deploy's change within a second; the rate it set stays.
    assert wait_until(lambda: shown() == ("private", 2), timeout=1.0), shown()


def test_racing_deploys_on_two_nodes_make_two_distinct_versions(cluster):
    first, second, _ = cluster.nodes
    deploy(first, "raced", 1)
    barrier = threading.Barrier(2)

    def race(node, version):
        barrier.wait()
        return node.deploy("raced", module(version))

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(race, (first, second), (10, 20)))
    assert [reply.status for reply in replies] == [201, 201], replies
    assert sorted(reply.json()["version"] for reply in replies) == [2, 3]
    versions = first.request("GET", "/functions/raced/versions").json()
    sources = {version["version"]: version["sha256"] for version in versions["versions"]}
    assert len(sources) == 3 and len(set(sources.values())) == 3, "neither racing deploy was lost"
    assert cluster.wait_served("raced", 3, timeout=1.0) is not None


def test_a_version_with_requirements_serves_on_every_node(cluster):
    first, second, third = cluster.nodes
    source = block("tinyhello==2.0") + "import tinyhello\ndef handle(request):\n    return tinyhello.VALUE\n"
    deployed = first.deploy("packaged", source)
    assert deployed.status == 201, deployed
    # Each node installs the stored, pinned set into its own data directory before it switches.
    assert cluster.wait_served("packaged", 1, timeout=15) is not None
    for node in (second, third):
        assert node.invoke("packaged", {}).json() == "hello 2.0"
        assert node.request("GET", "/functions/packaged").json()["requirements"] == deployed.json()["requirements"]


def test_postgres_stopped_and_restarted_under_load(cluster):
    first, second, third = cluster.nodes
    deploy(first, "steady", 1)
    assert cluster.wait_served("steady", 1) is not None
    failures, calls, stop = [], [], threading.Event()

    def load():
        while not stop.is_set():
            reply = cluster.front.invoke("steady", {})
            calls.append(reply.status)
            if reply.status != 200:
                failures.append(reply)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        cluster.postgres.stop()
        for node in cluster.nodes:
            assert wait_until(lambda: node.request("GET", "/healthz").json()["status"] == "degraded", timeout=3)
        health = third.request("GET", "/healthz")
        assert health.status == 200, "a node without its store still serves, so balancers keep it"
        assert health.json()["store"] == "unreachable"
        assert "cannot listen on postgres://pyhost@127.0.0.1" in health.json()["store_problem"]
        refused = second.deploy("steady", module(2))
        assert refused.status == 503, refused
        assert refused.json()["error"]["type"] == "StoreUnavailable"
        assert refused.headers["Retry-After"] == "1"
        assert "store-s3cret" not in refused.body.decode()
        logs = first.request("GET", "/functions/steady/logs")
        assert (logs.status, logs.json()["error"]["type"], logs.headers["Retry-After"]) == (503, "StoreUnavailable", "1")
        during = len(calls)
        cluster.postgres.start()
        recovered = time.monotonic()
        assert wait_until(lambda: second.deploy("steady", module(2)).status == 201, timeout=10, interval=0.2)
        assert time.monotonic() - recovered < 10
        assert cluster.wait_served("steady", 2, timeout=1.0) is not None
        for node in cluster.nodes:
            assert wait_until(lambda: node.request("GET", "/healthz").json()["status"] == "ok", timeout=3)
    finally:
        stop.set()
        loader.join()
    assert failures == [], failures[:3]
    assert during > 10, "calls went on while PostgreSQL was down"


def test_a_killed_node_leaves_the_others_serving(cluster):
    first, second, third = cluster.nodes
    deploy(first, "survivor", 1)
    assert cluster.wait_served("survivor", 1) is not None
    third.process.send_signal(signal.SIGKILL)
    third.process.wait(timeout=10)
    assert [cluster.front.invoke("survivor", {}).status for _ in range(9)] == [200] * 9
    deploy(second, "survivor", 2)
    assert cluster.wait_served("survivor", 2, nodes=[first, second], timeout=1.0) is not None
    assert {cluster.front.invoke("survivor", {}).json()["version"] for _ in range(6)} == {2}


def test_a_bad_store_url_is_a_clear_start_up_error(tmp_path):
    status, output = run_to_exit(tmp_path, "--store", "mysql://user@db/functions")
    assert status != 0
    assert "the store URL must look like postgres://user@host:port/database" in output
    status, output = run_to_exit(tmp_path, "--store", "postgres://user:pw@db/functions")
    assert status != 0
    assert "--store must not carry a password" in output


def test_an_unreachable_store_at_start_up_is_a_clear_error(tmp_path):
    status, output = run_to_exit(tmp_path, "--store", "postgres://pyhost@127.0.0.1:1/functions", timeout=30)
    assert status == 1
    assert "cannot start" in output and "postgres://pyhost@127.0.0.1:1/functions" in output
