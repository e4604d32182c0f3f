"""Two `chaosmonkey run` processes electing their leader on a Kubernetes Lease, each with a journal
of its own as the replicas of deploy/kubernetes have: one attacks and the other stands by; the
other takes over within the lease time when the leader is killed; a monkey that may not touch
the Lease says so in one line and attacks nothing.

Runs against the API simulator; against the cluster of KUBECONFIG when that is set (except the
test of a token without rights to leases, which needs the simulator's tokens).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch

from tests.integration.cli import LoggingMonkey, records, run_cli
from tests.integration.conftest import WaitFor
from tests.kubesim import KubeSim
from tests.kubesim.fixtures import Kube

LEASE = "chaosmonkey-leader"
REPLICAS = 3
ATTACKS = 3  # how many the leader is watched making before the monkeys are stopped
RENEW_SLACK_S = 2.0  # process scheduling and the API round trips of one beat
# A real cluster recovers a killed pod in seconds, not in the simulator's half second.
TIMEOUT_S = 180.0 if os.environ.get("KUBECONFIG") else 30.0


class Monkey(LoggingMonkey):
    """A `chaosmonkey run` process on the Lease, logging JSON lines (debug too) to its file."""

    def __init__(self, directory: Path, name: str, kubeconfig: Path, lease_s: float) -> None:
        """Runs the policies of `directory` with the journal `name`.db, on the Lease of the
        policy's namespace."""
        self.db = directory / f"{name}.db"
        super().__init__(
            directory / f"{name}.log",
            *("--policies", str(directory / "policies")),
            *("--lease-name", _lease_name(directory), "--lease-seconds", f"{lease_s:g}"),
            db=self.db,
            env={"KUBECONFIG": str(kubeconfig)},
        )

    def holder(self) -> str | None:
        """Its identity on the Lease, as it logs it at every beat."""
        beats = self.events("leadership_acquired", "not_leader")
        return beats[0]["holder"] if beats else None

    def attacks(self) -> list[dict[str, Any]]:
        """Every attack in its journal, oldest first."""
        result = run_cli("history", "--output", "json", "--limit", "1000", db=self.db)
        assert result.returncode == 0, result.stderr
        return sorted(records(result), key=lambda record: record["created_at"])


def _lease_name(directory: Path) -> str:
    """NAMESPACE/NAME of the Lease: in the namespace the policy of `directory` attacks."""
    policy = yaml.safe_load((directory / "policies" / "policy.yaml").read_text())
    return f"{policy['spec']['targets']['namespaces'][0]}/{LEASE}"


def _timestamp(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


@pytest.fixture
def namespace(kube: Kube) -> str:
    """A namespace of the test's own, with a Deployment `web` of 3 pods and, later, the Lease."""
    name = f"leader-{uuid.uuid4().hex[:8]}"
    kube.create_namespace(name)
    kube.create_deployment(name, "web", REPLICAS, labels={"app": "web"}, ready_after_s=0.3)
    return name


def write_policy(directory: Path, namespace: str, interval_s: float) -> None:
    """An armed policy deleting one `web` pod at once (grace 0) every `interval_s`."""
    document = {
        "apiVersion": "chaosmonkey/v1",
        "kind": "Policy",
        "metadata": {"name": "kube-leader"},
        "spec": {
            "backend": "kubernetes",
            "dryRun": False,
            "targets": {"namespaces": [namespace], "selector": "app=web"},
            "fault": {"type": "kill", "gracePeriod": "0s"},
            "schedule": {"interval": f"{interval_s:g}s"},
            "recovery": {"timeout": f"{TIMEOUT_S:g}s"},
        },
    }
    (directory / "policies").mkdir()
    (directory / "policies" / "policy.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def start_two(
    kube: Kube,
    tmp_path: Path,
    monkeys: list[Monkey],
    wait_for: WaitFor,
    lease_s: float,
) -> tuple[Monkey, Monkey]:
    """Two monkeys started together, each with its journal; returns (leader, follower) once one
    leads and the other has stood by for a beat."""
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    for name in ("a", "b"):
        monkeys.append(Monkey(tmp_path, name, kubeconfig, lease_s))
    wait_for(lambda: any(m.events("leadership_acquired") for m in monkeys), "a leader", TIMEOUT_S)
    [leader] = [m for m in monkeys if m.events("leadership_acquired")]
    [follower] = [m for m in monkeys if m is not leader]
    wait_for(lambda: bool(follower.events("not_leader")), "the follower to stand by", TIMEOUT_S)
    return leader, follower


def read_lease(api_client: client.ApiClient, namespace: str) -> dict[str, Any]:
    """The Lease's spec as the API holds it."""
    api = client.CoordinationV1Api(api_client)
    response = api.read_namespaced_lease(LEASE, namespace, _preload_content=False)
    spec: dict[str, Any] = json.loads(response.data)["spec"]
    return spec


def pods_version(api_client: client.ApiClient, namespace: str) -> str:
    """The resourceVersion of the namespace's pods now, to replay their changes from."""
    listed = client.CoreV1Api(api_client).list_namespaced_pod(namespace, _preload_content=False)
    version: str = json.loads(listed.data)["metadata"]["resourceVersion"]
    return version


def deleted_pods(api_client: client.ApiClient, namespace: str, since: str) -> list[str]:
    """The uids of the pods deleted since resourceVersion `since`, by a watch replaying them."""
    stream = watch.Watch().stream(
        client.CoreV1Api(api_client).list_namespaced_pod,
        namespace,
        resource_version=since,
        timeout_seconds=2,
    )
    return [event["object"].metadata.uid for event in stream if event["type"] == "DELETED"]


def assert_one_deletion_per_attack(attacks: list[dict[str, Any]], deleted: list[str]) -> None:
    """Each injected attack deleted its pod, and no pod went without an attack: none twice."""
    injected = [record["target"]["id"] for record in attacks if record["injected_at"] is not None]
    assert sorted(injected) == sorted(deleted), (attacks, deleted)
    assert len(set(deleted)) == len(deleted), deleted


def test_one_of_two_monkeys_attacks(
    kube: Kube,
    kube_client: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    wait_for: WaitFor,
    monkeys: list[Monkey],
) -> None:
    """While the leader makes 3 attacks (a kill a second) and the follower is refused the Lease
    at 3 beats, the follower's journal stays empty, and the pods deleted in the cluster are
    exactly the leader's attacked ones."""
    lease_s = 6.0
    write_policy(tmp_path, namespace, interval_s=1)
    since = pods_version(kube_client, namespace)
    leader, follower = start_two(kube, tmp_path, monkeys, wait_for, lease_s)
    wait_for(
        lambda: len(leader.events("attack_finished")) >= ATTACKS,
        f"{ATTACKS} attacks of the leader",
        TIMEOUT_S * ATTACKS,
    )
    wait_for(lambda: len(follower.events("not_leader")) >= 3, "3 refused beats", lease_s)
    assert follower.stop() == 0  # first, so that it never takes over
    assert leader.stop() == 0
    attacks = leader.attacks()
    assert len(attacks) >= ATTACKS
    assert follower.attacks() == []
    assert not follower.events("leadership_acquired", "attack_recorded")
    assert_one_deletion_per_attack(attacks, deleted_pods(kube_client, namespace, since))
    assert read_lease(kube_client, namespace)["leaseTransitions"] == 1


@pytest.mark.timing
def test_a_follower_takes_over_from_a_killed_leader(
    kube: Kube,
    kube_client: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    wait_for: WaitFor,
    monkeys: list[Monkey],
) -> None:
    """SIGKILL the leader (3 s Lease): the follower takes the Lease within its duration and a
    renewal period, with the next fencing token, then attacks; every pod deleted is one attack
    of the one or the other."""
    lease_s = 3.0
    write_policy(tmp_path, namespace, interval_s=2)
    since = pods_version(kube_client, namespace)
    leader, follower = start_two(kube, tmp_path, monkeys, wait_for, lease_s)
    # killed between two attacks, so that no deletion is in flight without its record
    wait_for(lambda: bool(leader.events("attack_finished")), "the leader's attack", TIMEOUT_S)
    before = read_lease(kube_client, namespace)
    leader.process.kill()
    killed_at = time.time()
    leader.process.wait()
    assert before["holderIdentity"] == leader.holder()

    wait_for(
        lambda: bool(follower.events("leadership_acquired")),
        "the takeover",
        lease_s + lease_s / 3 + TIMEOUT_S,
    )
    [takeover] = follower.events("leadership_acquired")
    takeover_s = _timestamp(takeover) - killed_at
    print(f"takeover {takeover_s:.2f} s after the kill (lease {lease_s:g} s)")
    assert takeover_s < lease_s + lease_s / 3 + RENEW_SLACK_S, takeover_s
    after = read_lease(kube_client, namespace)
    assert after["holderIdentity"] == follower.holder() != leader.holder()
    assert after["leaseTransitions"] == before["leaseTransitions"] + 1 == takeover["token"]

    wait_for(lambda: bool(follower.events("attack_finished")), "the follower's attack", TIMEOUT_S)
    assert follower.stop() == 0
    leader_attacks, follower_attacks = leader.attacks(), follower.attacks()
    assert leader_attacks
    assert all(record["created_at"] < killed_at for record in leader_attacks)
    assert follower_attacks
    assert all(record["created_at"] > _timestamp(takeover) for record in follower_attacks)
    deleted = deleted_pods(kube_client, namespace, since)
    assert_one_deletion_per_attack(leader_attacks + follower_attacks, deleted)


@pytest.mark.parametrize(
    ("forbidden", "verb"),
    [(("get", "create", "update", "delete"), "get"), (("create",), "create")],
    ids=["no-leases-at-all", "no-create"],
)
def test_no_right_to_the_lease_exits_3(
    kubesim: KubeSim,
    namespace: str,
    tmp_path: Path,
    forbidden: tuple[str, ...],
    verb: str,
) -> None:
    """A token that may not read (or create) the Lease: one line naming the Lease and the Role
    rule missing, exit 3, no pod touched and no attack in the journal."""
    token = f"no-lease-{uuid.uuid4().hex[:6]}"
    kubesim.add_token(token, forbidden=[(each, "leases", namespace) for each in forbidden])
    write_policy(tmp_path, namespace, interval_s=1)
    before = {pod["metadata"]["uid"] for pod in kubesim.pods(namespace)}
    result = run_cli(
        *("run", "--policies", str(tmp_path / "policies")),
        *("--metrics-port", "0", "--metrics-address", "127.0.0.1"),
        *("--lease-name", f"{namespace}/{LEASE}", "--lease-seconds", "3"),
        db=tmp_path / "j.db",
        env={"KUBECONFIG": str(kubesim.write_kubeconfig(tmp_path / "kubeconfig", token))},
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    [line] = lines
    assert line.startswith(f"no permission to {verb} the lease {namespace}/{LEASE}: "), line
    assert f'cannot {verb} resource "leases" in API group "coordination.k8s.io"' in line, line
    assert line.endswith(
        f'the monkey needs a Role in namespace "{namespace}" with apiGroups: '
        f'["coordination.k8s.io"], resources: ["leases"], verbs: ["{verb}"]'
    ), line
    assert {pod["metadata"]["uid"] for pod in kubesim.pods(namespace)} == before
    history = run_cli("history", "--output", "json", db=tmp_path / "j.db")
    assert records(history) == [], history.stderr
