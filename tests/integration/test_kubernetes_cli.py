"""`chaosmonkey` against Kubernetes as users run it: KUBECONFIG in the environment, the real
command in a subprocess. An attack end to end, and every kind of bad input as one clear line, a
non-zero exit and nothing attacked.

Runs against the API simulator; against the cluster of KUBECONFIG when that is set.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cli import records, run_cli
from tests.integration.conftest import free_port
from tests.kubesim import KubeSim
from tests.kubesim.fixtures import Kube

READY_AFTER_S = 0.5


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def write_policy(directory: Path, targets: dict[str, Any], fault: dict[str, Any]) -> Path:
    """An armed kubernetes policy file."""
    document = {
        "apiVersion": "chaosmonkey/v1",
        "kind": "Policy",
        "metadata": {"name": "kube-cli"},
        "spec": {
            "backend": "kubernetes",
            "dryRun": False,
            "targets": targets,
            "fault": fault,
            "recovery": {"timeout": "20s"},
        },
    }
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def env_for(kube: Kube, tmp_path: Path, token: str | None = None) -> dict[str, str]:
    """The command's environment: KUBECONFIG at `kube` (as `token` on the simulator)."""
    path = tmp_path / "kubeconfig"
    kubeconfig = kube.write_kubeconfig(path, token) if token else kube.write_kubeconfig(path)
    return {"KUBECONFIG": str(kubeconfig)}


def uids(kube: Kube, namespace: str) -> set[str]:
    return {pod["metadata"]["uid"] for pod in kube.pods(namespace)}


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def shop(kube: Kube) -> str:
    """A namespace with a Deployment `web` of 3 pods."""
    namespace = unique("shop")
    kube.create_namespace(namespace)
    kube.create_deployment(
        namespace, "web", replicas=3, labels={"app": "web"}, ready_after_s=READY_AFTER_S
    )
    return namespace


def test_attack_kills_a_pod_and_measures_recovery(kube: Kube, shop: str, tmp_path: Path) -> None:
    """`chaosmonkey attack` kills one web pod, exits 0 once the Deployment has 3 Ready pods
    again; `targets` lists the candidates first."""
    policy = write_policy(tmp_path, {"namespaces": [shop], "selector": "app=web"}, {"type": "kill"})
    env, db = env_for(kube, tmp_path), tmp_path / "journal.db"
    listed = run_cli("targets", "--policy", str(policy), "--output", "json", db=db, env=env)
    assert listed.returncode == 0, listed.stderr
    before = uids(kube, shop)
    assert {target["id"] for target in json.loads(listed.stdout)} == before
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=db, env=env)
    assert result.returncode == 0, result.stderr
    [record] = records(result)
    assert record["status"] == "recovered", record
    assert record["target"]["group"] == f"{shop}/deployment/web"
    assert record["target"]["id"] in before - uids(kube, shop)
    assert record["time_to_detect_seconds"] is not None
    assert 0 < record["recovery_seconds"] < 20
    if isinstance(kube, KubeSim):
        assert record["recovery_seconds"] >= READY_AFTER_S


@pytest.mark.parametrize(
    ("targets", "fault", "expected"),
    [
        ({}, {"type": "kill"}, "spec.targets: namespaces: expected the namespaces"),
        (
            {"namespaces": ["NS"], "selector": "app=web,tier=in(db"},
            {"type": "kill"},
            "spec.targets.selector: expected a label selector such as 'app=web,tier!=db'",
        ),
    ],
    ids=["no-namespaces", "invalid-selector"],
)
def test_invalid_kubernetes_policies_exit_2(
    kube: Kube,
    shop: str,
    tmp_path: Path,
    targets: dict[str, Any],
    fault: dict[str, Any],
    expected: str,
) -> None:
    """Refused when the policy is read, by `validate` and `attack` alike: nothing attacked."""
    if "namespaces" in targets:
        targets = {**targets, "namespaces": [shop]}
    policy = write_policy(tmp_path, targets, fault)
    before = uids(kube, shop)
    env = env_for(kube, tmp_path)
    for command in (["validate", str(policy)], ["attack", "--policy", str(policy)]):
        result = run_cli(*command, db=tmp_path / "journal.db", env=env)
        assert result.returncode == 2, result.stderr
        line = one_line(result.stderr)
        assert line.startswith(f"{policy}:"), line
        assert expected in line, line
    assert uids(kube, shop) == before


def test_a_missing_namespace_exits_3(kube: Kube, shop: str, tmp_path: Path) -> None:
    """A namespace of the allow-list that does not exist is named; nothing attacked elsewhere."""
    missing = unique("nowhere")
    policy = write_policy(tmp_path, {"namespaces": [shop, missing]}, {"type": "kill"})
    before = uids(kube, shop)
    result = run_cli(
        "attack", "--policy", str(policy), db=tmp_path / "j.db", env=env_for(kube, tmp_path)
    )
    assert result.returncode == 3, result.stderr
    assert one_line(result.stderr) == f'namespace "{missing}" does not exist (targets.namespaces)'
    assert uids(kube, shop) == before


def test_no_permission_exits_3(kubesim: KubeSim, shop: str, tmp_path: Path) -> None:
    """403 on listing pods: the API's message and the rule the monkey's Role lacks."""
    kubesim.add_token("blind", forbidden=[("list", "pods", shop)])
    policy = write_policy(tmp_path, {"namespaces": [shop]}, {"type": "kill"})
    before = uids(kubesim, shop)
    env = env_for(kubesim, tmp_path, "blind")
    result = run_cli("attack", "--policy", str(policy), db=tmp_path / "j.db", env=env)
    assert result.returncode == 3, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("no permission: pods is forbidden: User "), line
    assert line.endswith('resources: ["pods"], verbs: ["list"]'), line
    assert uids(kubesim, shop) == before


def test_an_unreachable_api_exits_3(tmp_path: Path) -> None:
    """Nothing listens at the kubeconfig's server: its address and the reason, exit 3."""
    url = f"http://127.0.0.1:{free_port()}"
    kubeconfig = tmp_path / "kubeconfig"
    cluster = {"name": "c", "cluster": {"server": url}}
    context = {"name": "x", "context": {"cluster": "c", "user": "u"}}
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [context],
                "current-context": "x",
            }
        )
    )
    policy = write_policy(tmp_path, {"namespaces": ["shop"]}, {"type": "kill"})
    env = {"KUBECONFIG": str(kubeconfig)}
    result = run_cli("attack", "--policy", str(policy), db=tmp_path / "j.db", env=env)
    assert result.returncode == 3, result.stderr
    line = one_line(result.stderr)
    assert line.startswith(f"cannot reach the Kubernetes API at {url}: Connection refused"), line


def test_no_configuration_exits_3(tmp_path: Path) -> None:
    """Neither in a pod nor a kubeconfig: said in one line."""
    policy = write_policy(tmp_path, {"namespaces": ["shop"]}, {"type": "kill"})
    env = {"KUBECONFIG": "", "HOME": str(tmp_path)}
    result = run_cli("attack", "--policy", str(policy), db=tmp_path / "j.db", env=env)
    assert result.returncode == 3, result.stderr
    assert one_line(result.stderr).startswith("no Kubernetes configuration: not in a pod")
