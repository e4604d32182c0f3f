"""The attack sequence with a backend held in memory: journal first, revert always."""

from __future__ import annotations

import itertools
import random
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chaosmonkey.cli import _attack_exit_code
from chaosmonkey.engine import INTERRUPTED, REVERT_MARGIN_S, Engine
from chaosmonkey.errors import (
    BackendError,
    ChaosMonkeyError,
    FaultRefused,
    NoTargets,
    PolicyError,
    TargetGone,
)
from chaosmonkey.guards.halt import HaltGuard
from chaosmonkey.journal import Journal
from chaosmonkey.model import AttackRecord, Outcome, RevertResult, Target
from chaosmonkey.policy.models import Policy
from tests.unit.fakes import Change, FakeBackend, FakeTimer

WEB = [Target("docker", f"c{i}", f"web-{i}", "web", {"app": "web"}, healthy=True) for i in range(3)]


def policy(fault: dict[str, Any], dry_run: bool = False, **spec: Any) -> Policy:
    return Policy.model_validate(
        {
            "apiVersion": "chaosmonkey/v1",
            "kind": "Policy",
            "metadata": {"name": "web-test"},
            "spec": {
                "dryRun": dry_run,
                "targets": {"labels": {"app": "web"}},
                "fault": fault,
                "recovery": {"timeout": "1s"},
                **spec,
            },
        }
    )


class Collected:
    def __init__(self) -> None:
        self.records: list[AttackRecord] = []
        self.revert_failures: list[tuple[str, str, str]] = []

    def attack_finished(self, record: AttackRecord) -> None:
        self.records.append(record)

    def revert_failed(self, policy: str, fault: str, backend: str) -> None:
        self.revert_failures.append((policy, fault, backend))


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.db")


def engine_for(backend: FakeBackend, journal: Journal) -> tuple[Engine, Collected]:
    collected = Collected()
    engine = Engine(lambda name: backend, journal, collected, random.Random(3), timer=backend.timer)
    return engine, collected


def test_the_fault_is_in_the_journal_before_it_is_applied(journal: Journal) -> None:
    """At the moment of the backend call the fault is already recorded as open."""
    backend = FakeBackend(WEB, journal=journal)
    engine, collected = engine_for(backend, journal)
    [record] = engine.run_policy(policy({"type": "kill"}))
    assert backend.journal_state_at_apply == ["recorded"]
    assert record.outcome is Outcome.RECOVERED
    assert record.recovery_seconds == pytest.approx(0.05, abs=0.001)
    assert record.time_to_detect_seconds == 0
    assert collected.records == [record]
    assert journal.open_faults() == []


def test_dry_run_changes_nothing(journal: Journal) -> None:
    """A dry run plans the fault, records the outcome dry_run and applies nothing."""
    backend = FakeBackend(WEB)
    engine, _ = engine_for(backend, journal)
    [record] = engine.run_policy(policy({"type": "kill"}, dry_run=True))
    assert record.outcome is Outcome.DRY_RUN
    assert backend.applied == []
    assert journal.attacks()[0].outcome is Outcome.DRY_RUN


def test_forced_dry_run_overrides_an_armed_policy(journal: Journal) -> None:
    """`--dry-run` wins over dryRun: false."""
    backend = FakeBackend(WEB)
    engine, _ = engine_for(backend, journal)
    [record] = engine.run_policy(policy({"type": "kill"}), dry_run=True)
    assert record.outcome is Outcome.DRY_RUN
    assert backend.applied == []


def test_a_target_that_never_comes_back_is_not_recovered(journal: Journal) -> None:
    """No recovery within recovery.timeout gives not_recovered, with the reason."""
    backend = FakeBackend(WEB, recover_after=None)
    engine, _ = engine_for(backend, journal)
    [record] = engine.run_policy(policy({"type": "kill"}))
    assert record.outcome is Outcome.NOT_RECOVERED
    assert record.reason == "web not back within recovery.timeout 1s"
    assert record.recovery_seconds is None


def test_pause_is_held_then_reverted(journal: Journal) -> None:
    """A pause is held for its duration, reverted, and its revert recorded."""
    backend = FakeBackend(WEB, recover_after=0.3)
    engine, _ = engine_for(backend, journal)
    [record] = engine.run_policy(policy({"type": "pause", "duration": "200ms"}))
    assert [i.attack_id for i in backend.reverted] == [record.id]
    assert record.revert_result is RevertResult.REVERTED
    assert record.outcome is Outcome.RECOVERED
    assert journal.open_faults() == []


def test_a_failed_apply_is_still_reverted_and_recorded(journal: Journal) -> None:
    """When the backend call fails, the outcome is failed and the revert still runs."""
    backend = FakeBackend(WEB, fail_apply=True)
    engine, _ = engine_for(backend, journal)
    [record] = engine.run_policy(policy({"type": "stop"}))
    assert record.outcome is Outcome.FAILED
    assert record.reason == "engine refused the call"
    assert len(backend.reverted) == 1
    assert journal.open_faults() == []


def test_no_matching_target_is_an_error(journal: Journal) -> None:
    """A selector matching nothing raises NoTargets naming the policy."""
    engine, _ = engine_for(FakeBackend([]), journal)
    with pytest.raises(NoTargets, match=r"web-test: spec\.targets matches no running docker"):
        engine.run_policy(policy({"type": "kill"}))


def test_caps_refusal_is_recorded_as_skipped(journal: Journal) -> None:
    """When every candidate would break maxUnavailable the run is skipped, with the reason."""
    down = Target("docker", "d", "web-down", "web", {"app": "web"}, running=False)
    engine, collected = engine_for(FakeBackend([*WEB, down]), journal)
    [record] = engine.run_policy(policy({"type": "kill"}))
    assert record.outcome is Outcome.SKIPPED
    assert record.reason is not None
    assert "maxUnavailable 1" in record.reason
    assert collected.records[0].outcome is Outcome.SKIPPED


def test_outside_the_window_nothing_runs(journal: Journal) -> None:
    """A window that excludes every day skips the run unless the window is ignored."""
    backend = FakeBackend(WEB)
    engine, _ = engine_for(backend, journal)
    closed = policy({"type": "kill"}, window={"days": [], "start": "00:00", "end": "00:01"})
    [record] = engine.run_policy(closed)
    assert record.outcome is Outcome.SKIPPED
    assert backend.applied == []
    [forced] = engine.run_policy(closed, in_window_only=False)
    assert forced.outcome is Outcome.RECOVERED


def test_max_targets_attacks_in_parallel(journal: Journal) -> None:
    """Two targets of different groups are attacked in one run, each observed."""
    targets = [Target("docker", f"c{i}", f"w{i}", f"g{i // 2}", {"app": "web"}) for i in range(4)]
    backend = FakeBackend(targets)
    engine, _ = engine_for(backend, journal)
    records = engine.run_policy(policy({"type": "kill"}, limits={"maxTargets": 2}))
    assert len(records) == 2
    assert len(backend.applied) == 2
    assert len({r.target.id for r in records}) == 2


def test_open_faults_are_reverted_after_a_crash(journal: Journal) -> None:
    """A fault left open by a dead process is reverted at the next start and its attack closed."""
    backend = FakeBackend(WEB)
    engine, _ = engine_for(backend, journal)
    target = WEB[0]
    record = AttackRecord("dead1", "web-test", "docker", "stop", target, False, created_at=1.0)
    stop = policy({"type": "stop"}).spec.fault
    journal.record_attack(record, stop.injection("dead1", target, backend))
    results = engine.revert_open_faults()
    assert [(i.attack_id, r) for i, r in results] == [("dead1", RevertResult.REVERTED)]
    assert journal.open_faults() == []
    [closed] = journal.attacks()
    assert closed.outcome is Outcome.FAILED
    assert closed.reason
    assert "interrupted" in closed.reason


def test_an_attack_its_live_monkey_reverted_is_left_for_it_to_finish(journal: Journal) -> None:
    """`revert --all` and `halt` close only the attacks whose faults they reverted: an attack
    whose own monkey reverted its fault and is still observing it keeps the outcome that monkey
    gives it. A new leader taking over closes every unfinished attack."""
    backend = FakeBackend(WEB)
    engine, _ = engine_for(backend, journal)
    target = WEB[0]
    record = AttackRecord("live1", "web-test", "docker", "pause", target, False, created_at=1.0)
    pause = policy({"type": "pause", "duration": "1h"}).spec.fault
    journal.record_attack(record, pause.injection("live1", target, backend))
    assert journal.begin_apply("live1") is None
    journal.mark_injected(record)
    journal.mark_reverted("live1", RevertResult.REVERTED)  # by the monkey carrying it out
    assert engine.revert_open_faults() == []
    [still] = journal.unfinished_attacks()
    assert still.id == "live1"
    engine.revert_open_faults(every_unfinished=True)
    assert journal.unfinished_attacks() == []
    assert journal.attacks()[0].reason == INTERRUPTED


def test_halt_cuts_a_hold_short_and_reverts(journal: Journal) -> None:
    """A halt during a long pause reverts at once instead of waiting out the duration."""
    backend = FakeBackend(WEB, recover_after=None)
    engine, _ = engine_for(backend, journal)
    engine.halted.set()
    [record] = engine.run_policy(policy({"type": "pause", "duration": "1h"}))
    assert record.revert_result is RevertResult.REVERTED
    assert record.outcome is Outcome.FAILED
    assert record.reason == INTERRUPTED
    assert timedelta(seconds=record.ended_at - record.created_at) < timedelta(seconds=5)


def test_a_network_fault_lasts_its_duration_and_is_reverted(journal: Journal) -> None:
    """A partition is in force from its application until its revert after `duration`: that is
    its impact and its recovery, as the engine's events cannot show a network fault."""
    backend = FakeBackend(WEB, recover_after=None)
    engine, _ = engine_for(backend, journal)
    [record] = engine.run_policy(policy({"type": "partition", "duration": "300ms"}))
    assert record.outcome is Outcome.RECOVERED
    assert record.revert_result is RevertResult.REVERTED
    assert record.time_to_detect_seconds == 0
    assert record.recovery_seconds == pytest.approx(0.3, abs=0.1)
    assert [i.action for i in backend.reverted] == ["partition"]
    assert journal.open_faults() == []


def test_a_guard_refusing_skips_the_run(journal: Journal) -> None:
    """A guard that objects (a stop condition breached) skips the run with its reason."""
    backend = FakeBackend(WEB)
    engine, _ = engine_for(backend, journal)
    engine.guards.append(lambda policy: "error rate above 5%")
    [record] = engine.run_policy(policy({"type": "kill"}))
    assert record.outcome is Outcome.SKIPPED
    assert record.reason == "error rate above 5%"
    assert backend.applied == []


def test_a_guard_objecting_during_a_fault_aborts_and_reverts_it(journal: Journal) -> None:
    """A breach in the middle of a one-hour pause reverts it at once: outcome aborted."""
    backend = FakeBackend(WEB, recover_after=None)
    engine, _ = engine_for(backend, journal)
    breached: list[str] = []
    engine.guards.append(lambda policy: breached[0] if breached else None)
    backend.on_apply = lambda change: breached.append("latency p99 above 2s")
    [record] = engine.run_policy(policy({"type": "pause", "duration": "1h"}))
    assert record.outcome is Outcome.ABORTED
    assert record.reason == "latency p99 above 2s"
    assert record.revert_result is RevertResult.REVERTED
    assert record.ended_at - record.created_at < 5


def test_a_monkey_that_may_not_act_changes_nothing(journal: Journal) -> None:
    """When the fence refuses (another monkey leads), nothing is applied: outcome failed."""
    backend = FakeBackend(WEB)
    engine, _ = engine_for(backend, journal)

    def not_leader() -> None:
        raise ChaosMonkeyError("not the leader: another monkey holds the lease")

    engine.fence = not_leader
    [record] = engine.run_policy(policy({"type": "kill"}))
    assert record.outcome is Outcome.FAILED
    assert record.reason == "not the leader: another monkey holds the lease"
    assert backend.applied == []


def test_a_lone_container_is_attacked_only_when_allowed(journal: Journal) -> None:
    """A group of one is skipped with the reason by default; limits.allowLastMember attacks it."""
    backend = FakeBackend(WEB[:1])
    engine, _ = engine_for(backend, journal)
    [skipped] = engine.run_policy(policy({"type": "kill"}))
    assert skipped.outcome is Outcome.SKIPPED
    assert skipped.reason == (
        "group web: attacking web-0 would leave no available member "
        "(limits.allowLastMember is false)"
    )
    assert backend.applied == []
    [attacked] = engine.run_policy(policy({"type": "kill"}, limits={"allowLastMember": True}))
    assert attacked.outcome is Outcome.RECOVERED


def test_a_fault_in_place_counts_its_target_as_down(journal: Journal) -> None:
    """A fault the journal holds as open (a network fault, which the backend cannot show) fills
    the group's maxUnavailable 1: the next run is skipped and applies nothing."""
    backend = FakeBackend(WEB)
    engine, _ = engine_for(backend, journal)
    partition = policy({"type": "partition", "duration": "1m"}).spec.fault
    held = AttackRecord("held1", "other", "docker", "partition", WEB[0], False, created_at=1.0)
    journal.record_attack(held, partition.injection("held1", WEB[0], backend))
    [record] = engine.run_policy(policy({"type": "kill"}))
    assert record.outcome is Outcome.SKIPPED
    assert record.reason is not None
    assert "1 of 3 members unavailable" in record.reason
    assert backend.applied == []


def test_a_plan_that_fails_leaves_nothing_recorded(journal: Journal) -> None:
    """When the plan of one of a run's targets fails, no fault of the run is recorded or applied."""
    targets = [Target("docker", f"c{i}", f"w{i}", f"g{i // 2}", {"app": "web"}) for i in range(4)]
    backend = FakeBackend(targets)
    planned: list[str] = []

    def place_once(target: Target) -> None:
        if planned:
            raise PolicyError("spec.fault.allowHostNetwork", f"{target.name} is on the host")
        planned.append(target.id)

    backend.on_place = place_once
    engine, _ = engine_for(backend, journal)
    partition = {"type": "partition", "duration": "1m"}
    with pytest.raises(PolicyError):
        engine.run_policy(policy(partition, limits={"maxTargets": 2}))
    assert len(planned) == 1
    assert journal.attacks() == []
    assert backend.applied == []


def test_every_fault_of_a_run_is_recorded_before_any_is_applied(journal: Journal) -> None:
    """With maxTargets 3, the journal holds all three faults at the first apply."""
    targets = [Target("docker", f"c{i}", f"w{i}", f"g{i // 2}", {"app": "web"}) for i in range(6)]
    backend = FakeBackend(targets, journal=journal)
    seen: list[int] = []
    backend.on_apply = lambda change: seen.append(len(journal.open_faults()))
    engine, _ = engine_for(backend, journal)
    records = engine.run_policy(policy({"type": "kill"}, limits={"maxTargets": 3}))
    assert len(records) == 3
    assert seen[0] == 3  # the first apply already finds every fault of the run recorded


def test_a_fault_the_backend_refuses_is_a_skipped_attack(journal: Journal) -> None:
    """A refusal that changed nothing (an eviction a disruption budget forbids) is recorded as
    skipped with the backend's reason, not failed; its fault is closed in the journal."""
    backend = FakeBackend(WEB)
    engine, _ = engine_for(backend, journal)

    def refuse(change: Change) -> None:
        raise FaultRefused(f"eviction of pod {change.target.name} refused: budget")

    backend.on_apply = refuse
    [record] = engine.run_policy(policy({"type": "kill"}))
    assert record.outcome is Outcome.SKIPPED
    assert record.reason is not None
    assert record.reason.endswith("refused: budget")
    assert journal.open_faults() == []


BROKEN = Target("docker", "explodes", "web-9", "web", {"app": "web"}, healthy=True)
PAUSE_BROKEN = policy({"type": "pause", "duration": "1s"}, targets={"names": ["^web-9$"]})


def test_a_revert_that_fails_is_recorded_as_such(journal: Journal) -> None:
    """A pause whose revert keeps failing: the attack failed, its revert recorded `failed` (in
    the journal too), the fault still open; `attack` then exits 5."""
    backend = FakeBackend([*WEB, BROKEN])
    engine, _ = engine_for(backend, journal)
    [record] = engine.run_policy(PAUSE_BROKEN)
    assert (record.outcome, record.revert_result) == (Outcome.FAILED, RevertResult.FAILED)
    assert record.reason is not None
    assert record.reason.startswith("revert failed: cannot revert attack")
    assert journal.attacks()[0].revert_result is RevertResult.FAILED
    assert [fault.attack_id for fault in journal.open_faults()] == [record.id]
    assert _attack_exit_code([record]) == 5


def flaky_unpause(backend: FakeBackend, failures: list[Exception]) -> list[float]:
    """Makes the backend's unpause raise each of `failures` in turn, then succeed; returns the
    (virtual) moments of its calls."""
    tries: list[float] = []
    unpause = backend.unpause

    def flaky(target: Target) -> RevertResult:
        tries.append(backend.timer.time())
        if len(tries) <= len(failures):
            raise failures[len(tries) - 1]
        return unpause(target)

    backend.unpause = flaky  # type: ignore[method-assign]
    return tries


def test_a_failed_revert_is_tried_again_with_back_off_until_it_succeeds(journal: Journal) -> None:
    """The revert fails twice, then works: tried 0.5 s, then 1 s later; the attack is judged as
    usual, and each failed try is counted with the attack's labels."""
    backend = FakeBackend(WEB, recover_after=1.5)
    engine, collected = engine_for(backend, journal)
    tries = flaky_unpause(backend, [BackendError("daemon busy"), BackendError("daemon busy")])
    [record] = engine.run_policy(policy({"type": "pause", "duration": "1s"}))
    assert [round(t - tries[0], 3) for t in tries] == [0, 0.5, 1.5]
    assert (record.revert_result, record.outcome) == (RevertResult.REVERTED, Outcome.RECOVERED)
    assert collected.revert_failures == [("web-test", "pause", "docker")] * 2
    assert journal.open_faults() == []


def test_a_failed_revert_stops_being_tried_once_the_target_is_gone(journal: Journal) -> None:
    """A target removed between two tries has nothing left to undo: no more tries."""
    backend = FakeBackend(WEB, recover_after=None)
    engine, collected = engine_for(backend, journal)
    tries = flaky_unpause(backend, [BackendError("daemon busy"), TargetGone("removed")])
    [record] = engine.run_policy(policy({"type": "pause", "duration": "1s"}))
    assert len(tries) == 2
    assert record.revert_result is RevertResult.TARGET_GONE
    assert len(collected.revert_failures) == 1
    assert journal.open_faults() == []


def test_a_failed_revert_is_tried_until_the_faults_end_plus_the_margin(journal: Journal) -> None:
    """A revert that never works: tried with waits doubling up to 30 s, the last try at the
    fault's own end (injected + 1 s) plus the margin, and no try after it; each one counted."""
    backend = FakeBackend([*WEB, BROKEN])
    engine, collected = engine_for(backend, journal)
    tries = flaky_unpause(backend, [BackendError("down")] * 100)
    [record] = engine.run_policy(PAUSE_BROKEN)
    assert record.injected_at is not None
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(tries)]
    assert gaps == [0.5, 1, 2, 4, 8, 16, 30, 30, 28.5]
    assert tries[-1] == pytest.approx(record.injected_at + 1 + REVERT_MARGIN_S)
    assert len(collected.revert_failures) == len(tries)
    assert record.revert_result is RevertResult.FAILED


class HaltInBackOff(FakeTimer):
    """Sets `halted` when a wait on it begins after the first try of a revert (the back-off),
    and notes how long each such wait was to be."""

    def __init__(self, halted: threading.Event, tries: list[float]) -> None:
        super().__init__()
        self.halted, self.tries = halted, tries
        self.cut: list[float] = []

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event is self.halted and self.tries:
            self.cut.append(seconds)
            event.set()
        return super().wait(event, seconds)


def test_a_halt_during_the_back_off_ends_it_at_once(journal: Journal) -> None:
    """A halt in the wait between two tries: one last try at once (no time spent waiting), then
    none; the fault stays recorded active for whoever reverts next."""
    backend = FakeBackend([*WEB, BROKEN], recover_after=None)
    engine, _ = engine_for(backend, journal)
    tries = flaky_unpause(backend, [BackendError("down")] * 100)
    backend.timer = engine.timer = timer = HaltInBackOff(engine.halted, tries)
    [record] = engine.run_policy(PAUSE_BROKEN)
    assert timer.cut == [0.5]  # the back-off's first wait, and no other
    assert len(tries) == 2
    assert tries[1] == tries[0]
    assert (record.outcome, record.revert_result) == (Outcome.FAILED, RevertResult.FAILED)
    assert [fault.attack_id for fault in journal.open_faults()] == [record.id]


def test_faults_left_in_place_are_tried_again_later(journal: Journal) -> None:
    """After an attack gave up on its revert, a later try (the daemon's timer) that fails is
    counted; one that works closes the fault and says so in the attack's reason."""
    backend = FakeBackend(WEB)
    engine, collected = engine_for(backend, journal)
    tries = flaky_unpause(backend, [BackendError("down")] * 11)  # 10 by the attack, 1 later
    [record] = engine.run_policy(policy({"type": "pause", "duration": "1s"}))
    counted = len(collected.revert_failures)
    assert counted == 10
    [(_, failed)] = engine.retry_failed_reverts()
    assert failed == "failed: cannot revert attack " + record.id + ": down"
    assert len(collected.revert_failures) == counted + 1
    [(_, result)] = engine.retry_failed_reverts()
    assert result is RevertResult.REVERTED
    assert len(tries) == counted + 2
    assert journal.open_faults() == []
    [again] = journal.attacks()
    assert (again.outcome, again.revert_result) == (Outcome.FAILED, RevertResult.REVERTED)
    assert again.reason == record.reason.replace(  # type: ignore[union-attr]
        "the fault stays recorded as active", "reverted by a later try"
    )
    assert engine.retry_failed_reverts() == []


def halt_guarded(journal: Journal, backend: FakeBackend) -> Engine:
    engine, _ = engine_for(backend, journal)
    engine.guards.append(HaltGuard(journal))
    return engine


def test_a_halt_between_admission_and_apply_wins(journal: Journal) -> None:
    """`halt` after the attack was admitted and journaled, before its fault is applied: the
    fault is never applied (the switch is read in the same transaction that would turn the
    fault active); the attack is skipped with the halt's reason, its fault closed."""
    backend = FakeBackend(WEB)
    engine = halt_guarded(journal, backend)
    backend.on_watch = lambda: journal.halt("incident 42")
    [record] = engine.run_policy(policy({"type": "pause", "duration": "1h"}))
    assert backend.applied == []
    assert (record.outcome, record.reason) == (Outcome.SKIPPED, "halted: incident 42")
    assert journal.open_faults() == []


def test_a_revert_of_every_open_fault_before_the_apply_wins(journal: Journal) -> None:
    """Another process's `revert --all` (or a halt's own revert) reaching the recorded fault
    before its apply: the fault is not applied afterwards, and stays reverted."""
    backend = FakeBackend(WEB)
    engine = halt_guarded(journal, backend)
    other, _ = engine_for(FakeBackend(WEB), journal)
    backend.on_watch = lambda: [None for _ in other.revert_open_faults()]
    [record] = engine.run_policy(policy({"type": "pause", "duration": "1h"}))
    assert backend.applied == []
    assert record.outcome is Outcome.SKIPPED
    assert record.reason == "its fault was reverted before it was applied"
    assert journal.open_faults() == []


def test_a_halt_during_the_apply_has_its_fault_reverted_by_its_monkey(journal: Journal) -> None:
    """`halt` while the fault is being applied: the fault is active in the journal (the halt
    waits for it), and the monkey reverts it at its next look at the switch: aborted."""
    backend = FakeBackend(WEB)
    engine = halt_guarded(journal, backend)
    active_then: list[dict[str, int]] = []

    def halt_now(change: Change) -> None:
        journal.halt("incident 43")
        active_then.append(journal.active_fault_counts())

    backend.on_apply = halt_now
    [record] = engine.run_policy(policy({"type": "pause", "duration": "1h"}))
    assert active_then == [{"docker": 1}]
    assert [change.action for change in backend.applied] == ["pause"]
    assert [change.action for change in backend.reverted] == ["unpause"]
    assert (record.outcome, record.reason) == (Outcome.ABORTED, "halted: incident 43")
    assert record.revert_result is RevertResult.REVERTED
    assert journal.open_faults() == []
