"""Roles: only configurators with the deploy token deploy or delete; invocation stays open. And
honest degradation: a host that cannot provide a layer is refused unless weaker isolation is asked for."""

import pytest

from server import DEPLOY_TOKEN as TOKEN, Server, run_to_exit

HELLO = "def handle(request):\n    return 'hello'\n"


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_deploy_without_the_token_is_401(guarded, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    reply = guarded.deploy("guarded-fn", HELLO, headers)
    assert reply.status == 401
    assert reply.json()["error"]["type"] == "Unauthorized"
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert guarded.request("GET", "/functions/guarded-fn", headers={"Authorization": f"Bearer {TOKEN}"}).status == 404


def test_the_token_deploys_and_deletes_and_invocation_stays_open(guarded):
    assert guarded.deploy("open-call", HELLO, {"Authorization": f"Bearer {TOKEN}"}).status == 201
    assert guarded.invoke("open-call", {}).json() == "hello"
    assert guarded.request("GET", "/functions").status == 200
    assert guarded.request("DELETE", "/functions/open-call").status == 401
    assert guarded.invoke("open-call", {}).status == 200
    reply = guarded.request("DELETE", "/functions/open-call", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status == 204


def test_the_token_can_come_from_the_environment(tmp_path):
    server = Server(tmp_path, env={"PYHOST_DEPLOY_TOKEN": TOKEN})
    try:
        assert server.deploy("from-env", HELLO).status == 401
        assert server.deploy("from-env", HELLO, {"Authorization": f"Bearer {TOKEN}"}).status == 201
        reply = server.deploy("from-env", "import os\ndef handle(r):\n    return sorted(os.environ)\n",
                              {"Authorization": f"Bearer {TOKEN}"})
        assert reply.status == 201
        assert server.invoke("from-env", {}).json() == [], "the token never reaches a handler"
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("token", ["ab,cd", "two words", "tab\there", "naïve"])
def test_a_token_no_bearer_header_can_carry_refuses_the_start(tmp_path, token):
    code, output = run_to_exit(tmp_path, "--deploy-token", token)
    assert code != 0
    assert "the deploy token must be visible ASCII characters without spaces or commas" in output


def test_a_non_loopback_address_needs_a_token(tmp_path):
    code, output = run_to_exit(tmp_path, "--host", "0.0.0.0")
    assert code != 0
    assert "--deploy-token" in output


def test_a_non_loopback_address_with_a_token_starts(tmp_path):
    server = Server(tmp_path, "--host", "0.0.0.0", "--deploy-token", TOKEN, token=TOKEN)
    try:
        assert server.deploy("anywhere", HELLO).status == 201
    finally:
        assert server.stop() == 0


# Inside a user namespace that maps only root, the server cannot give workers a range of
# unprivileged ids: a host that lacks one layer.
WITHOUT_ID_RANGE = ("unshare", "--user", "--map-root-user")


def test_a_missing_layer_refuses_to_start_naming_it(tmp_path):
    code, output = run_to_exit(tmp_path, prefix=WITHOUT_ID_RANGE)
    assert code == 1
    failures = [line for line in output.splitlines() if " critical " in line]
    assert len(failures) == 1, output
    assert "unprivileged_identity" in failures[0]
    assert "--allow-weaker-sandbox" in failures[0]


def test_weaker_sandbox_on_request_reports_what_is_missing(tmp_path):
    server = Server(tmp_path, "--allow-weaker-sandbox", prefix=WITHOUT_ID_RANGE)
    try:
        health = server.request("GET", "/healthz").json()
        assert health["status"] == "weaker_sandbox"
        assert health["missing_sandbox_layers"] == ["unprivileged_identity"]
        assert "seccomp" in health["sandbox_layers"] and "user_namespace" in health["sandbox_layers"]
        assert server.deploy("weaker", HELLO).status == 201
        assert server.invoke("weaker", {}).json() == "hello"
        reply = server.deploy("still-no-fork", "import os\ndef handle(r):\n    os.fork()\n")
        assert reply.status == 201
        assert server.invoke("still-no-fork", {}).json()["error"]["type"] == "PermissionError"
    finally:
        assert server.stop() == 0


def test_healthz_lists_every_layer_on_a_full_host(server):
    health = server.request("GET", "/healthz").json()
    assert health["status"] == "ok"
    assert health["missing_sandbox_layers"] == []
    assert set(health["sandbox_layers"]) == {
        "user_namespace", "mount_namespace", "read_only_root", "network_namespace", "ipc_namespace",
        "uts_namespace", "pid_namespace", "private_tmp", "unprivileged_identity", "resource_limits",
        "parent_death_signal", "closed_descriptors", "not_dumpable", "scrubbed_environment", "no_new_privs",
        "seccomp",
    }
