"""deploy/kubernetes: every manifest fits the Kubernetes API's schema, the RBAC grants no more than
the monkey needs, the Deployment's arguments are ones the real command accepts, and the policies it
mounts are valid dry runs on the kubernetes backend."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from chaosmonkey.agent import AGENT_PORT
from chaosmonkey.backends.kubernetes.network import AGENT_PORT_NAME, AGENT_SELECTOR, agent_address
from chaosmonkey.cli import cli
from chaosmonkey.policy import load_paths
from tests.kubeschema import is_namespaced, load_documents, model_for, validate

DEPLOY = Path(__file__).parents[2] / "deploy" / "kubernetes"
OWN_NAMESPACE = "chaosmonkey"
SERVICE_ACCOUNT = {"kind": "ServiceAccount", "name": "chaosmonkey", "namespace": OWN_NAMESPACE}

# (apiGroup, resource) -> the verbs the monkey may have on it, and where.
TARGET_RIGHTS = {
    ("", "pods"): {"get", "list", "watch", "delete"},
    ("", "pods/eviction"): {"create"},
    ("apps", "replicasets"): {"get", "list", "watch"},
    ("apps", "deployments"): {"get", "list", "watch"},
    ("apps", "statefulsets"): {"get", "list", "watch"},
    ("apps", "daemonsets"): {"get", "list", "watch"},
    ("", "namespaces"): {"get"},
    ("", "events"): {"create"},  # an Event on each attacked pod
}
OWN_RIGHTS = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}
AGENT_NAMESPACE = "chaosmonkey-agent"
AGENT_RIGHTS = {("", "pods"): {"list"}}  # to find the agent on a target's node


def manifest_files() -> list[Path]:
    return sorted(path for path in DEPLOY.glob("*.yaml") if path.name != "kustomization.yaml")


def all_documents() -> list[dict[str, Any]]:
    return [document for path in manifest_files() for document in load_documents(path)]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [document for document in all_documents() if document["kind"] == kind]


def the(kind: str) -> dict[str, Any]:
    (document,) = of_kind(kind)
    return document


def container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = the("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def rules(role: dict[str, Any]) -> Iterator[tuple[str, str, set[str], dict[str, Any]]]:
    """(apiGroup, resource, verbs, rule) for every group and resource a rule names."""
    for rule in role["rules"]:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                yield group, resource, set(rule["verbs"]), rule


def rights_in(namespace: str) -> dict[tuple[str, str], set[str]]:
    if namespace == OWN_NAMESPACE:
        return OWN_RIGHTS
    return AGENT_RIGHTS if namespace == AGENT_NAMESPACE else TARGET_RIGHTS


def document_id(document: dict[str, Any]) -> str:
    return f"{document['kind']}/{document['metadata']['name']}"


# -- the schema checker itself -------------------------------------------------------------------


@pytest.fixture
def deployment() -> dict[str, Any]:
    return copy.deepcopy(the("Deployment"))


def test_misspelled_field_is_rejected_with_its_path(deployment: dict[str, Any]) -> None:
    """A field the API does not know is an error naming where it is."""
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert validate(deployment) == [
        "Deployment/chaosmonkey: spec.template.spec.containers[0].imagePullPolicyy: "
        "unknown field (not in V1Container)"
    ]


def test_wrong_type_is_rejected_with_its_path(deployment: dict[str, Any]) -> None:
    """A string where the API wants an integer is an error, and so is a bool (YAML's `yes`)."""
    deployment["spec"]["replicas"] = "2"
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = True
    assert validate(deployment) == [
        "Deployment/chaosmonkey: spec.replicas: expected int, got str '2'",
        "Deployment/chaosmonkey: spec.template.spec.containers[0].ports[0].containerPort: "
        "expected int, got bool True",
    ]


def test_missing_required_field_is_rejected_with_its_path(deployment: dict[str, Any]) -> None:
    """A container without a name, a probe without a port: each a required field missing."""
    del deployment["spec"]["template"]["spec"]["containers"][0]["name"]
    del deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"]
    assert validate(deployment) == [
        "Deployment/chaosmonkey: spec.template.spec.containers[0].livenessProbe.httpGet.port: "
        "required field missing",
        "Deployment/chaosmonkey: spec.template.spec.containers[0].name: required field missing",
    ]


def test_map_and_list_shapes_are_checked() -> None:
    """Labels must map strings to strings, and a list field must be a list."""
    (leader,) = [r for r in of_kind("Role") if r["metadata"]["name"] == "chaosmonkey-leader"]
    role = copy.deepcopy(leader)
    role["metadata"]["labels"]["replicas"] = 2
    role["rules"][0]["verbs"] = "create"
    assert validate(role) == [
        "Role/chaosmonkey-leader: metadata.labels.replicas: expected str, got int 2",
        "Role/chaosmonkey-leader: rules[0].verbs: expected a list, got str",
    ]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("apps/v1", "Deploymnt"), ("app/v1", "Deployment"), ("v1", "Deployment"), ("v1", "Lease")],
)
def test_unknown_kind_or_group_is_rejected(api_version: str, kind: str) -> None:
    """A kind the API group does not serve is an error, even when a model of that name exists."""
    document = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
    (error,) = validate(document)
    assert error == f"{kind}/x: apiVersion {api_version!r}, kind {kind!r}: no API serves it"


def test_kinds_resolve_to_the_clients_models() -> None:
    """apiVersion and kind name the generated model, whatever the group."""
    assert model_for("apps/v1", "Deployment").__name__ == "V1Deployment"
    assert model_for("rbac.authorization.k8s.io/v1", "RoleBinding").__name__ == "V1RoleBinding"
    assert model_for("coordination.k8s.io/v1", "Lease").__name__ == "V1Lease"
    assert model_for("v1", "Event").__name__ == "CoreV1Event"
    assert is_namespaced("rbac.authorization.k8s.io/v1", "Role")
    assert not is_namespaced("rbac.authorization.k8s.io/v1", "ClusterRole")


# -- the manifests -------------------------------------------------------------------------------


@pytest.mark.parametrize("document", all_documents(), ids=document_id)
def test_manifest_fits_the_api_schema(document: dict[str, Any]) -> None:
    """No unknown field, wrong type or missing required field; the client's model builds it."""
    assert validate(document) == []
    model = model_for(document["apiVersion"], document["kind"])
    assert model.from_dict(document) is not None


@pytest.mark.parametrize("document", all_documents(), ids=document_id)
def test_namespaced_objects_name_their_namespace(document: dict[str, Any]) -> None:
    """The kustomization sets no namespace, so each namespaced object names its own."""
    namespaced = is_namespaced(document["apiVersion"], document["kind"])
    assert ("namespace" in document["metadata"]) == namespaced


def test_kustomization_lists_every_manifest() -> None:
    """`kubectl apply -k` applies exactly the files here, and no namespace override moves the
    target Roles out of their namespaces."""
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [path.name for path in manifest_files()]
    assert "namespace" not in kustomization


def test_kustomize_builds_the_same_objects() -> None:
    """kubectl's own kustomize renders the directory into the objects the files hold."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (Debian: kubernetes-client)")
    built = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True, timeout=60
    )
    rendered = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    assert sorted(map(document_id, rendered)) == sorted(map(document_id, all_documents()))


# -- RBAC: least privilege -----------------------------------------------------------------------


def test_nothing_is_granted_cluster_wide() -> None:
    """No ClusterRole or ClusterRoleBinding; every binding names a Role of its own namespace."""
    kinds = {document["kind"] for document in all_documents()}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    for binding in of_kind("RoleBinding"):
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": binding["metadata"]["name"],
        }
        assert binding["subjects"] == [SERVICE_ACCOUNT]
    roles = {(role["metadata"]["namespace"], role["metadata"]["name"]) for role in of_kind("Role")}
    bound = {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in of_kind("RoleBinding")}
    assert roles == bound


@pytest.mark.parametrize("role", of_kind("Role"), ids=lambda role: role["metadata"]["namespace"])
def test_every_rule_is_within_least_privilege(role: dict[str, Any]) -> None:
    """No wildcard; target namespaces get pod rights only, the monkey's own the Lease only, the
    agents' a pods list only."""
    namespace = role["metadata"]["namespace"]
    allowed = rights_in(namespace)
    for group, resource, verbs, rule in rules(role):
        assert "*" not in {group, resource, *verbs}
        assert "nonResourceURLs" not in rule
        assert verbs <= allowed.get((group, resource), set()), (namespace, group, resource)
        if resource == "namespaces":  # only the namespace the Role lives in
            assert rule["resourceNames"] == [namespace]


@pytest.mark.parametrize("role", of_kind("Role"), ids=lambda role: role["metadata"]["namespace"])
def test_every_needed_right_is_granted(role: dict[str, Any]) -> None:
    """The other way round: nothing the monkey needs is missing, so trimming too much fails."""
    namespace = role["metadata"]["namespace"]
    needed = rights_in(namespace)
    granted: dict[tuple[str, str], set[str]] = {}
    for group, resource, verbs, _ in rules(role):
        granted.setdefault((group, resource), set()).update(verbs)
    assert granted == needed


def test_the_leader_lease_is_the_one_the_deployment_uses() -> None:
    """get and update on leases are limited to the Lease named by --lease-name."""
    (leader,) = [role for role in of_kind("Role") if role["metadata"]["namespace"] == OWN_NAMESPACE]
    named = [rule for rule in leader["rules"] if "resourceNames" in rule]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["chaosmonkey-leader"],
            "verbs": ["get", "update"],
        }
    ]
    assert run_params()["lease_name"] == f"{OWN_NAMESPACE}/chaosmonkey-leader"


def test_policies_attack_only_namespaces_with_a_target_role(tmp_path: Path) -> None:
    """Every namespace a mounted policy lists has its Role and RoleBinding here."""
    policies = load_paths([mounted_policies(tmp_path)])
    listed = {namespace for policy in policies for namespace in policy.spec.targets.namespaces}
    with_role = {role["metadata"]["namespace"] for role in of_kind("Role")}
    with_role -= {OWN_NAMESPACE, AGENT_NAMESPACE}
    assert listed
    assert listed <= with_role


# -- the Deployment ------------------------------------------------------------------------------


def expanded_args() -> list[str]:
    """The container's args as the kubelet passes them: $(VAR) replaced from the env list."""
    env = {var["name"]: f"<{var['name']}>" for var in container()["env"]}
    env["POD_NAMESPACE"] = the("Deployment")["metadata"]["namespace"]
    args: list[str] = container()["args"]
    for arg in args:
        for name in re.findall(r"\$\((\w+)\)", arg):
            assert name in env, f"{arg}: $({name}) is not in the container's env"
    return [re.sub(r"\$\((\w+)\)", lambda match: env[match.group(1)], arg) for arg in args]


def run_params() -> dict[str, Any]:
    """The options `chaosmonkey run` parses from the Deployment's args (the image's entrypoint is
    `chaosmonkey`)."""
    command, *options = expanded_args()
    assert command == "run"
    run = cli.commands["run"]
    try:
        context = run.make_context("run", options)
    except click.UsageError as error:
        pytest.fail(f"deployment.yaml args: {error.format_message()}")
    return context.params


def test_args_are_accepted_by_the_real_command() -> None:
    """Every option in the args exists on `chaosmonkey run` and parses."""
    params = run_params()
    assert params["metrics_port"] == 9797


def test_args_point_at_the_mounts() -> None:
    """The policies come from the ConfigMap mount; the journal is on a writable emptyDir, since
    the root filesystem is read-only."""
    params = run_params()
    pod = the("Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {Path(mount["mountPath"]): mount for mount in container()["volumeMounts"]}
    policies = mounts[params["policies_dir"]]
    assert volumes[policies["name"]]["configMap"]["name"] == the("ConfigMap")["metadata"]["name"]
    journal = mounts[params["db"].parent]
    assert "emptyDir" in volumes[journal["name"]]
    assert not journal.get("readOnly", False)


def test_metrics_port_is_probed_and_served() -> None:
    """Probes and the Service use the port named `metrics`, the one the daemon listens on."""
    (port,) = container()["ports"]
    metrics_port = run_params()["metrics_port"]
    assert port == {"name": "metrics", "containerPort": metrics_port, "protocol": "TCP"}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container()[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    service = the("Service")
    (service_port,) = service["spec"]["ports"]
    assert (service_port["name"], service_port["targetPort"]) == ("metrics", "metrics")
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(port["containerPort"])
    labels = the("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_pod_runs_unprivileged() -> None:
    """Non-root, read-only root filesystem, no capabilities, no privilege escalation."""
    deployment = the("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0  # the image's default user is root
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"cpu", "memory"} <= container()["resources"]["requests"].keys()
    assert "memory" in container()["resources"]["limits"]
    fields = {
        var["name"]: var["valueFrom"]["fieldRef"]["fieldPath"]
        for var in container()["env"]
        if "valueFrom" in var
    }
    assert fields == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


def test_image_is_the_one_the_dockerfile_builds() -> None:
    """The image is built from the repository's Dockerfile, whose entrypoint is `chaosmonkey`."""
    dockerfile = (DEPLOY.parents[1] / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["chaosmonkey"]' in dockerfile
    assert container()["image"] == "chaosmonkey:latest"
    assert container()["imagePullPolicy"] == "IfNotPresent"  # a local build, not pulled


# -- the policies ConfigMap ----------------------------------------------------------------------


def mounted_policies(directory: Path) -> Path:
    """The ConfigMap as the kubelet mounts it: keys as symlinks through `..data`."""
    data = the("ConfigMap")["data"]
    stamped = directory / "..2024_01_01_00_00_00.000000001"
    stamped.mkdir()
    for key, text in data.items():
        (stamped / key).write_text(text)
        (directory / key).symlink_to(Path("..data") / key)
    (directory / "..data").symlink_to(stamped.name)
    return directory


def test_policies_validate_with_the_real_command(tmp_path: Path) -> None:
    """`chaosmonkey validate` accepts the mounted directory as the daemon will read it."""
    directory = mounted_policies(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "chaosmonkey", "validate", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CHAOSMONKEY_DB": str(tmp_path / "unused.db")},
        check=False,
    )
    count = len(the("ConfigMap")["data"])
    assert (result.returncode, result.stderr.strip()) == (0, f"{count} valid policies")


def test_policies_are_kubernetes_dry_runs(tmp_path: Path) -> None:
    """Applied as shipped, the monkey changes nothing; every fault is one kubernetes offers."""
    policies = load_paths([mounted_policies(tmp_path)])
    assert len(policies) == len(the("ConfigMap")["data"])
    for policy in policies:
        assert policy.spec.backend == "kubernetes"
        assert policy.spec.dry_run is True
        assert policy.spec.fault.type in {"kill", "evict"}


# -- the node agent ------------------------------------------------------------------------------


def agent_pod() -> dict[str, Any]:
    pod: dict[str, Any] = the("DaemonSet")["spec"]["template"]["spec"]
    return pod


def agent_container() -> dict[str, Any]:
    (agent,) = agent_pod()["containers"]
    result: dict[str, Any] = agent
    return result


def agent_params() -> dict[str, Any]:
    """The options `chaosmonkey agent` parses from the DaemonSet's args."""
    command, *options = agent_container()["args"]
    assert command == "agent"
    try:
        return cli.commands["agent"].make_context("agent", options).params
    except click.UsageError as error:
        pytest.fail(f"agent-daemonset.yaml args: {error.format_message()}")


def test_agent_pods_are_the_ones_the_backend_looks_for() -> None:
    """Labelled as the backend selects agents, in their own (privileged) namespace, apart from the
    monkey's own pods (neither the Deployment nor the metrics Service selects them)."""
    daemonset = the("DaemonSet")
    labels = daemonset["spec"]["template"]["metadata"]["labels"]
    key, value = AGENT_SELECTOR.split("=")
    assert labels[key] == value
    assert daemonset["metadata"]["namespace"] == AGENT_NAMESPACE
    env = {var["name"]: var.get("value") for var in container()["env"]}
    assert env["CHAOSMONKEY_AGENT_NAMESPACE"] == AGENT_NAMESPACE
    (namespace,) = [n for n in of_kind("Namespace") if n["metadata"]["name"] == AGENT_NAMESPACE]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert daemonset["spec"]["selector"]["matchLabels"].items() <= labels.items()
    monkey = the("Deployment")["spec"]["selector"]["matchLabels"]
    assert not monkey.items() <= labels.items()
    assert not the("Service")["spec"]["selector"].items() <= labels.items()


def test_agent_port_and_token_match_the_monkey() -> None:
    """The agent listens on the port named `agent`, probed on /healthz; its token file comes
    from the Secret the monkey's Deployment mounts (optional there: kill needs no agent)."""
    params = agent_params()
    (port,) = agent_container()["ports"]
    assert port == {"name": AGENT_PORT_NAME, "containerPort": params["port"], "protocol": "TCP"}
    assert params["port"] == AGENT_PORT
    for probe in ("livenessProbe", "readinessProbe"):
        assert agent_container()[probe]["httpGet"] == {"path": "/healthz", "port": "agent"}
    agent_volumes = {volume["name"]: volume for volume in agent_pod()["volumes"]}
    mounts = {Path(m["mountPath"]): m for m in agent_container()["volumeMounts"]}
    agent_secret = agent_volumes[mounts[params["token_file"].parent]["name"]]["secret"]
    monkey_pod = the("Deployment")["spec"]["template"]["spec"]
    monkey_volumes = {volume["name"]: volume for volume in monkey_pod["volumes"]}
    env = {var["name"]: var.get("value") for var in container()["env"]}
    token_file = Path(env["CHAOSMONKEY_AGENT_TOKEN_FILE"])
    monkey_mounts = {Path(m["mountPath"]): m for m in container()["volumeMounts"]}
    monkey_secret = monkey_volumes[monkey_mounts[token_file.parent]["name"]]["secret"]
    assert agent_secret == {"secretName": monkey_secret["secretName"]}  # required by the agent
    assert monkey_secret["optional"] is True
    assert token_file.name == params["token_file"].name


def test_agent_has_just_what_entering_a_pods_namespace_needs() -> None:
    """hostPID (to find sandboxes), NET_ADMIN, SYS_ADMIN and SYS_PTRACE, nothing else; no
    host network, no privileged mode, no API token."""
    pod = agent_pod()
    assert pod["hostPID"] is True
    assert not pod.get("hostNetwork", False)
    assert pod["automountServiceAccountToken"] is False
    security = agent_container()["securityContext"]
    assert not security.get("privileged", False)
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {
        "drop": ["ALL"],
        "add": ["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"],
    }
    assert agent_container()["image"] == container()["image"]


def test_the_agent_port_is_one_constant() -> None:
    """The agent's default port and the one the monkey assumes for an agent pod naming none."""
    defaults = cli.commands["agent"].make_context("agent", ["--token-file", "t"]).params
    assert defaults["port"] == AGENT_PORT
    pod = {
        "metadata": {"name": "agent-x1"},
        "spec": {"nodeName": "n1", "containers": [{"name": "agent"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.5"},
    }
    assert agent_address([pod], "n1") == f"10.0.0.5:{AGENT_PORT}"


def test_agent_reads_pod_namespaces_read_only_and_knows_its_own() -> None:
    """The kubelet's pod log directories, read-only, are where --pod-logs-dir points (the only
    host path); its own namespace, refused, comes from the downward API; its limits parse."""
    params = agent_params()
    volumes = {volume["name"]: volume for volume in agent_pod()["volumes"]}
    host_paths = {name: v["hostPath"]["path"] for name, v in volumes.items() if "hostPath" in v}
    assert host_paths == {"pod-logs": "/var/log/pods"}
    (mount,) = [m for m in agent_container()["volumeMounts"] if m["name"] == "pod-logs"]
    assert (Path(mount["mountPath"]), mount["readOnly"]) == (params["pod_logs_dir"], True)
    env = {
        var["name"]: var["valueFrom"]["fieldRef"]["fieldPath"] for var in agent_container()["env"]
    }
    assert env == {"POD_NAMESPACE": "metadata.namespace"}
    assert params["max_duration"] == "1h"
    assert not params["allow_host_network"]


def test_only_the_monkeys_pods_reach_the_agent_port() -> None:
    """One NetworkPolicy on the agent pods: ingress only, from the monkey's own pods in its own
    namespace (both selectors in one peer: an AND), to the agent's port only."""
    (policy,) = of_kind("NetworkPolicy")
    spec = policy["spec"]
    agent_labels = the("DaemonSet")["spec"]["template"]["metadata"]["labels"]
    assert policy["metadata"]["namespace"] == AGENT_NAMESPACE
    assert spec["podSelector"]["matchLabels"].items() <= agent_labels.items()
    assert spec["podSelector"]["matchLabels"] == the("DaemonSet")["spec"]["selector"]["matchLabels"]
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    (peer,) = rule["from"]
    assert peer == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": OWN_NAMESPACE}},
        "podSelector": {"matchLabels": the("Deployment")["spec"]["selector"]["matchLabels"]},
    }
    assert the("Deployment")["metadata"]["namespace"] == OWN_NAMESPACE
    assert rule["ports"] == [{"protocol": "TCP", "port": AGENT_PORT}]
    assert agent_params()["port"] == AGENT_PORT
