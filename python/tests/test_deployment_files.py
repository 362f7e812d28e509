"""The reference Kubernetes manifests of docs/scale-out.md parse and fit together."""

import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "docs" / "k8s"
sys.path.insert(0, str(ROOT / "python" / "tests" / "e2e"))

from cluster import CONFIG_TEMPLATE  # noqa: E402


def documents():
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        found += [document for document in yaml.safe_load_all(path.read_text()) if document]
    return found


def one(kind):
    matching = [document for document in documents() if document["kind"] == kind]
    assert len(matching) == 1, f"expected one {kind}, found {len(matching)}"
    return matching[0]


def test_every_manifest_is_yaml_with_an_api_version_kind_and_name():
    assert {document["kind"] for document in documents()} == {"Secret", "Cluster", "Deployment", "Service"}
    for document in documents():
        assert document["apiVersion"] and document["metadata"]["name"]


def test_the_service_reaches_the_deployments_pods_on_their_port():
    deployment, service = one("Deployment"), one("Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert service["spec"]["selector"].items() <= labels.items()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in ports
    assert f"--port={ports['http']}" in container["args"]
    assert deployment["spec"]["replicas"] >= 2


def test_credentials_come_from_secrets_never_the_command_line():
    deployment, cluster = one("Deployment"), one("Cluster")
    secrets = {document["metadata"]["name"]: document for document in documents() if document["kind"] == "Secret"}
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {variable["name"]: variable for variable in container["env"]}
    password = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password["name"] in secrets and password["key"] in secrets[password["name"]]["stringData"]
    assert cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"] == password["name"]
    store = env["PYHOST_STORE"]["value"]
    user = secrets[password["name"]]["stringData"]["username"]
    assert store == f"postgres://{user}@{cluster['metadata']['name']}-rw:5432/{cluster['spec']['bootstrap']['initdb']['database']}"
    token_volume = next(volume for volume in pod["volumes"] if "secret" in volume)
    assert token_volume["secret"]["secretName"] in secrets
    assert not any(argument.startswith(("--deploy-token=", "--store")) for argument in container["args"])


def test_the_probes_ask_healthz():
    container = one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_postgresql_comes_from_a_cloudnativepg_cluster():
    cluster = one("Cluster")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] >= 1


def test_the_walk_through_nginx_block_is_the_one_the_test_runs():
    walk_through = re.search(r"^```nginx\n(.*?)^```", (ROOT / "docs" / "scale-out.md").read_text(), re.S | re.M).group(1)
    location = re.search(r"^    location / \{\n(.*?)^    \}", walk_through, re.S | re.M).group(1)
    lines = [line.strip() for line in location.splitlines()]
    run = "\n".join(line.strip() for line in CONFIG_TEMPLATE.format(root="/r", servers="", port=1).splitlines())
    assert len(lines) > 3 and "\n".join(lines) in run
