"""Fault types: registered by name, planned per backend, journaled as typed plans (those of
version 0.1 read back), reverted through the backend's operations; a new module is a new type."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import grimp
import pytest
from pydantic import ValidationError

from chaosmonkey.errors import BackendError, PolicyError, RevertFailedError, TargetGone
from chaosmonkey.faults import FAULTS, PLANS, Injection, Plan, parse_fault
from chaosmonkey.faults.evict import EvictFault, PodEviction
from chaosmonkey.faults.kill import ContainerKill, KillFault, PodDelete
from chaosmonkey.faults.legacy import RecordedNetworkFault
from chaosmonkey.faults.network import NetworkPlan, Peer, Placement
from chaosmonkey.faults.pause import ContainerPause, PauseFault
from chaosmonkey.faults.restart import ContainerRestart, RestartFault
from chaosmonkey.faults.stop import ContainerStop, StopFault
from chaosmonkey.journal import Journal
from chaosmonkey.model import AttackRecord, RevertResult, Target
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import KeeperSpec
from chaosmonkey.netfaults.rules import IptablesRule, Qdisc
from tests.unit.fakes import FakeBackend

REPO = Path(__file__).parents[2]
CONTAINER = Target("docker", "c1", "web-1", "web", {"app": "web"})
POD = Target("kubernetes", "uid-1", "web-1", "shop/deployment/web", namespace="shop")
PEER = [Destination("10.1.0.7/32", 8080)]


def test_every_fault_type_is_registered_with_where_it_is_available() -> None:
    """The policy format's fault types are exactly the registered ones, each on its backends."""
    available = {name: FAULTS[name].backends for name in FAULTS}
    network = ("docker", "kubernetes")
    assert available == {
        "bandwidth": network,
        "evict": ("kubernetes",),
        "http_error": network,
        "kill": ("docker", "kubernetes"),
        "latency": network,
        "packet_loss": network,
        "partition": network,
        "pause": ("docker",),
        "restart": ("docker",),
        "stop": ("docker",),
    }
    assert isinstance(parse_fault({"type": "latency", "delay": "200ms"}), FAULTS["latency"])


def test_fault_types_do_not_import_each_other() -> None:
    """Each fault type is a module of its own: none imports another, even through others (the
    import contracts of pyproject.toml cover the layers; this covers every registered type)."""
    graph = grimp.build_graph("chaosmonkey")
    modules = {spec.__module__ for spec in FAULTS.values()}
    assert len(modules) == len(FAULTS)
    for module in modules:
        for other in modules - {module}:
            assert not graph.chain_exists(importer=module, imported=other), (module, other)


def test_container_faults_plan_the_engine_call_and_its_undo() -> None:
    """On a container: crash signals the process, api kills through the engine, stop and pause
    are undone (start, unpause), restart and kills are not."""
    cases: list[tuple[Any, Plan, str, bool]] = [
        (
            KillFault(type="kill"),
            ContainerKill(signal="SIGKILL", method="crash"),
            "signal_process",
            False,
        ),
        (
            KillFault(type="kill", method="api", signal="TERM"),
            ContainerKill(signal="SIGTERM", method="api"),
            "kill",
            False,
        ),
        (
            StopFault(type="stop", timeout=timedelta(seconds=3)),
            ContainerStop(timeout_s=3.0),
            "stop",
            True,
        ),
        (RestartFault(type="restart"), ContainerRestart(timeout_s=10.0), "restart", False),
        (PauseFault(type="pause"), ContainerPause(duration_s=30.0), "pause", True),
    ]
    for fault, plan, action, reversible in cases:
        injection = fault.injection("a1", CONTAINER, FakeBackend([]))
        assert (injection.plan, injection.action, injection.reversible) == (
            plan,
            action,
            reversible,
        )
        assert (injection.attack_id, injection.backend, injection.target) == (
            "a1",
            "docker",
            CONTAINER,
        )


def test_pod_faults_plan_a_deletion_or_an_eviction() -> None:
    """On a pod: kill deletes with gracePeriod (0 by default, rounded up to whole seconds), evict
    keeps the pod's own unless given; neither is reversible. Docker-only faults and settings
    are refused before anything is recorded."""
    backend = FakeBackend([], name="kubernetes")
    assert KillFault(type="kill").injection("a1", POD, backend).plan == PodDelete(grace_period_s=0)
    slow = KillFault(type="kill", grace_period=timedelta(seconds=1.5))
    assert slow.injection("a1", POD, backend).plan == PodDelete(grace_period_s=2)
    evict = EvictFault(type="evict").injection("a1", POD, backend)
    assert (evict.plan, evict.action, evict.reversible) == (
        PodEviction(grace_period_s=None),
        "evict_pod",
        False,
    )
    with pytest.raises(PolicyError, match="a pause fault is not available on kubernetes"):
        PauseFault(type="pause").injection("a1", POD, backend)
    with pytest.raises(PolicyError, match="method: docker settings"):
        KillFault(type="kill", method="api").injection("a1", POD, backend)


def test_network_faults_write_their_own_rules() -> None:
    """Each network type says which rules (and which fault proxy) make it happen."""

    def changes(spec: dict[str, Any]) -> tuple[list[Any], Any]:
        fault = parse_fault({**spec, "duration": "1m"})
        return fault.changes("chaosmonkey:a1", PEER)  # type: ignore[attr-defined, no-any-return]

    latency, proxy = changes({"type": "latency", "delay": "200ms", "jitter": "20ms"})
    assert {rule.table for rule in latency} == {"nat"}
    assert proxy.toxic["attributes"] == {"latency_ms": 200.0, "jitter_ms": 20.0}
    errors, proxy = changes({"type": "http_error", "status": 502, "percent": 25})
    assert (proxy.toxic["type"], proxy.toxic["toxicity"]) == ("http_status", 0.25)
    partition, proxy = changes({"type": "partition", "direction": "both"})
    assert proxy is None
    assert {rule.chain for rule in partition} == {"INPUT", "OUTPUT"}
    loss, _ = changes({"type": "packet_loss", "percent": 30})
    assert all("statistic" in rule.spec for rule in loss)
    everything = parse_fault({"type": "bandwidth", "rate": "1mbit", "direction": "both"})
    [qdisc], _ = everything.changes("chaosmonkey:a1", [])  # type: ignore[attr-defined]
    assert isinstance(qdisc, Qdisc)
    assert (qdisc.rate, qdisc.classified) == ("1mbit", False)
    assert all(isinstance(rule, IptablesRule) for rule in [*latency, *errors, *partition, *loss])


def direction_of(spec: dict[str, Any]) -> str:
    fault = parse_fault({**spec, "duration": "1m"})
    return str(fault.direction)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["latency", "http_error", "bandwidth", "packet_loss"])
def test_a_fault_without_destinations_reaches_what_the_target_serves(kind: str) -> None:
    """Ingress by default without destinations, egress with them, as written otherwise."""
    spec = {"type": kind, "delay": "1s", "rate": "1mbit", "percent": 5}
    spec = {key: value for key, value in spec.items() if key in ("type", FIELD_OF[kind])}
    assert direction_of(spec) == "ingress"
    assert direction_of({**spec, "destinations": ["10.0.0.1:80"]}) == "egress"
    assert direction_of({**spec, "destinations": ["10.0.0.1:80"], "direction": "both"}) == "both"


FIELD_OF = {"latency": "delay", "http_error": "status", "bandwidth": "rate",
            "packet_loss": "percent"}


def test_ingress_latency_is_redirected_where_connections_come_in() -> None:
    """Connections opened to the target (to its served ports) go to the fault proxy from
    PREROUTING, which listens on every address; with `both` the target's own go there too."""
    fault = parse_fault({"type": "latency", "delay": "300ms", "ports": [8080], "duration": "1m"})
    rules, proxy = fault.changes("chaosmonkey:a1", [])  # type: ignore[attr-defined]
    assert [(rule.table, rule.chain) for rule in rules] == [("nat", "PREROUTING")]
    assert rules[0].spec[rules[0].spec.index("--dport") :][:2] == ("--dport", "8080")
    assert proxy.listen_all
    both = parse_fault({"type": "latency", "delay": "1s", "direction": "both", "duration": "1m"})
    rules, proxy = both.changes("chaosmonkey:a1", PEER)  # type: ignore[attr-defined]
    assert sorted(rule.chain for rule in rules) == ["OUTPUT", "PREROUTING"]


def test_ports_are_the_targets_own_and_need_ingress() -> None:
    """`ports` names the target's served ports: refused for egress alone."""
    with pytest.raises(ValidationError, match="ports"):
        parse_fault({"type": "latency", "delay": "1s", "direction": "egress", "ports": [80]})


def test_bandwidth_on_chosen_connections_classifies_them_into_a_class_of_its_own() -> None:
    """Ingress: the answers on connections opened to the target (conntrack REPLY) go to the
    class with the rate; the others pass straight through."""
    fault = parse_fault({"type": "bandwidth", "rate": "2mbit", "duration": "1m"})
    (qdisc, rule), _ = fault.changes("chaosmonkey:a1", [])  # type: ignore[attr-defined]
    assert isinstance(qdisc, Qdisc)
    assert qdisc.classified
    assert (rule.table, rule.chain) == ("mangle", "POSTROUTING")
    assert {"REPLY", "CLASSIFY", qdisc.shaped_class} <= set(rule.spec)


def network_plan(placement: Placement | None) -> NetworkPlan:
    fault = parse_fault({"type": "partition", "destinations": ["10.1.0.7:8080"], "duration": "5s"})
    injection = fault.injection("n1", CONTAINER, FakeBackend([]))
    plan = injection.plan
    assert isinstance(plan, NetworkPlan)
    return plan.model_copy(update={"placement": placement})


def journaled(tmp_path: Path, plans: list[Plan]) -> list[Injection]:
    """The plans recorded in one journal and read back by another."""
    journal = Journal(tmp_path / "j.db")
    for number, plan in enumerate(plans):
        record = AttackRecord(f"a{number}", "p", "docker", "f", CONTAINER, False, created_at=1.0)
        journal.record_attack(record, Injection(record.id, CONTAINER, plan))
    return Journal(tmp_path / "j.db").open_faults()


def test_every_plan_reads_back_from_the_journal_as_it_was_written(tmp_path: Path) -> None:
    """Each kind of plan, the network one with its peers, rules and node agent, comes back equal
    (typed, not a loose mapping) from a new journal."""
    plans: list[Plan] = [
        ContainerKill(signal="SIGKILL", method="crash"),
        ContainerStop(timeout_s=3.0),
        ContainerRestart(timeout_s=1.0),
        ContainerPause(duration_s=5.0),
        PodDelete(grace_period_s=0),
        PodEviction(grace_period_s=None),
        network_plan(None),
        network_plan(Placement(node="node-a", agent="10.0.0.5:9798")),
    ]
    read = journaled(tmp_path, plans)
    assert [injection.plan for injection in read] == plans
    assert {type(plan).kind for plan in plans} <= set(PLANS)
    network = read[-1].plan
    assert isinstance(network, NetworkPlan)
    assert network.peers == [Peer(cidr="10.1.0.7/32", port=8080)]
    assert network.keeper.tag == "chaosmonkey:n1"
    assert network.fault.duration == timedelta(seconds=5)


V0_KEEPER = KeeperSpec("chaosmonkey:old1", 0.0, []).to_json()
V0_RECORDS: list[tuple[str, str, dict[str, Any], Plan]] = [
    (
        "docker",
        "signal_process",
        {"signal": "SIGKILL"},
        ContainerKill(signal="SIGKILL", method="crash"),
    ),
    ("docker", "kill", {"signal": "SIGTERM"}, ContainerKill(signal="SIGTERM", method="api")),
    ("docker", "stop", {"timeout_s": 10.0}, ContainerStop(timeout_s=10.0)),
    ("docker", "restart", {"timeout_s": 1.0}, ContainerRestart(timeout_s=1.0)),
    ("docker", "pause", {"duration_s": 30.0}, ContainerPause(duration_s=30.0)),
    ("kubernetes", "delete_pod", {"grace_period_s": 0}, PodDelete(grace_period_s=0)),
    ("kubernetes", "evict_pod", {"grace_period_s": None}, PodEviction(grace_period_s=None)),
    (
        "docker",
        "network",
        {"fault": "latency", "duration_s": 60.0, "keeper": V0_KEEPER},
        RecordedNetworkFault(fault="latency", tag="chaosmonkey:old1"),
    ),
]


def test_faults_recorded_by_version_0_1_are_read_back_and_reverted(tmp_path: Path) -> None:
    """A journal written by 0.1 (an action string and loose params per fault) still tells what
    to revert: each row is read back as the plan it described, and reverted through it."""
    path = tmp_path / "old.db"
    journal = Journal(path)
    for number, (backend, action, params, _) in enumerate(V0_RECORDS):
        target = POD if backend == "kubernetes" else CONTAINER
        record = AttackRecord(f"v{number}", "p", backend, "f", target, False, created_at=1.0)
        journal.record_attack(record)
        row = {
            "attack_id": record.id,
            "backend": backend,
            "target": {**vars(target), "labels": dict(target.labels)},
            "action": action,
            "params": params,
            "revert_action": None,
        }
        with sqlite3.connect(path) as db:
            db.execute(
                "INSERT INTO faults (attack_id, backend, injection, state, recorded_at) "
                "VALUES (?, ?, ?, 'active', ?)",
                (record.id, backend, json.dumps(row), float(number)),
            )
    read = Journal(path).open_faults()
    assert [injection.plan for injection in read] == [plan for *_, plan in V0_RECORDS]
    backend = FakeBackend([CONTAINER])
    old_network = read[-1]
    assert old_network.revert(backend) is RevertResult.REVERTED
    assert [change.action for change in backend.reverted] == ["latency"]


def test_a_kubernetes_network_fault_of_version_0_1_keeps_its_node_agent(tmp_path: Path) -> None:
    """0.1 recorded the agent request of a pod's network fault: it becomes the full plan."""
    from chaosmonkey.faults.legacy import plan_from_v0

    params = {
        "fault": "partition",
        "duration_s": 5.0,
        "keeper": V0_KEEPER,
        "node": "node-a",
        "agent": "10.0.0.5:9798",
        "request": {
            "pod_uid": "uid-1",
            "tag": "chaosmonkey:old1",
            "duration_s": 6.0,
            "fault": {"type": "partition", "duration": "5s"},
            "peers": [{"cidr": "10.1.0.0/16", "port": None}],
        },
    }
    plan = plan_from_v0("kubernetes", "network", params)
    assert isinstance(plan, NetworkPlan)
    assert plan.placement == Placement(node="node-a", agent="10.0.0.5:9798")
    assert (plan.tag, plan.fault.type, plan.peers) == (
        "chaosmonkey:old1",
        "partition",
        [Peer(cidr="10.1.0.0/16")],
    )
    with pytest.raises(ValueError, match="unknown docker action 'explode'"):
        plan_from_v0("docker", "explode", {})


def test_revert_reports_a_gone_target_and_a_failure_as_such() -> None:
    """A kill has nothing to revert (the backend is not asked); a gone target was cleaned with
    it; any other error is a revert failure (the fault stays recorded as active)."""
    backend = FakeBackend([CONTAINER], gone={"gone"})
    kill = KillFault(type="kill").injection("a1", CONTAINER, backend)
    assert kill.revert(backend) is RevertResult.NOTHING_TO_REVERT
    assert backend.reverted == []
    gone = Target("docker", "gone", "web-2", "web")
    assert PauseFault(type="pause").injection("a2", gone, backend).revert(backend) is (
        RevertResult.TARGET_GONE
    )
    broken = Target("docker", "explodes", "web-3", "web")
    with pytest.raises(RevertFailedError, match="cannot revert attack a3: cannot reach it"):
        PauseFault(type="pause").injection("a3", broken, backend).revert(backend)
    assert TargetGone.__mro__.index(BackendError) == 1  # a gone target is a backend error too


def test_a_backend_without_the_operations_a_plan_needs_refuses_it() -> None:
    """A plan is checked against the backend's operations before anything is recorded."""

    class ListsOnly:
        name = "listing"

    with pytest.raises(BackendError, match=r"the listing backend cannot carry out a docker\.pause"):
        PauseFault(type="pause").injection("a1", CONTAINER, ListsOnly())


FREEZE_MODULE = '''
"""`freeze`: a fault type written as one module, outside the package's own files."""

from datetime import timedelta
from typing import ClassVar, Literal

from chaosmonkey.faults.base import FaultSpec, Plan, register_fault, register_plan
from chaosmonkey.faults.ops import ContainerOps
from chaosmonkey.schema import Duration


@register_fault
class FreezeFault(FaultSpec):
    backends: ClassVar[tuple[str, ...]] = ("docker",)
    type: Literal["freeze"]
    duration: Duration = timedelta(seconds=1)

    def held_for(self):
        return self.duration

    def plan(self, attack_id, target, ops):
        return ContainerFreeze()


@register_plan
class ContainerFreeze(Plan):
    kind: ClassVar[str] = "docker.freeze"
    needs: ClassVar[type] = ContainerOps
    reversible: ClassVar[bool] = True

    def apply(self, ops, target):
        return ops.pause(target)

    def revert(self, ops, target):
        return ops.unpause(target)
'''

ATTACK_WITH_IT = """
import importlib.util, json, random, sys
from pathlib import Path

spec = importlib.util.find_spec("chaosmonkey.faults")
package = importlib.util.module_from_spec(spec)
package.__path__.append(sys.argv[1])  # the folder of the new module, as if it were in the package
sys.modules["chaosmonkey.faults"] = package
spec.loader.exec_module(package)

from chaosmonkey.engine import Engine
from chaosmonkey.journal import Journal
from chaosmonkey.model import Target
from chaosmonkey.policy import load_policy
from tests.unit.fakes import FakeBackend

policy = load_policy(Path(sys.argv[2]))
targets = [Target("docker", f"c{n}", f"web-{n}", "web", {"app": "web"}) for n in range(2)]
backend = FakeBackend(targets)
journal = Journal(Path(sys.argv[3]))
engine = Engine(lambda name: backend, journal, rng=random.Random(1), timer=backend.timer)
[record] = engine.run_policy(policy)
print(json.dumps({
    "outcome": record.outcome.value,
    "revert": record.revert_result.value,
    "applied": [change.action for change in backend.applied],
    "reverted": [change.action for change in backend.reverted],
    "open": len(journal.open_faults()),
}))
"""


def test_a_new_fault_module_is_all_a_new_fault_type_needs(tmp_path: Path) -> None:
    """A module in the faults package registers a type that policies validate, the engine plans,
    journals, applies, holds and reverts: nothing else in the monkey names it."""
    (tmp_path / "freeze.py").write_text(textwrap.dedent(FREEZE_MODULE))
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        textwrap.dedent(
            """\
            apiVersion: chaosmonkey/v1
            kind: Policy
            metadata: {name: freezer}
            spec:
              dryRun: false
              targets: {labels: {app: web}}
              fault: {type: freeze, duration: 2s}
              recovery: {timeout: 5s}
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-c", ATTACK_WITH_IT, str(tmp_path), str(policy), str(tmp_path / "j.db")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "outcome": "recovered",
        "revert": "reverted",
        "applied": ["pause"],
        "reverted": ["unpause"],
        "open": 0,
    }
