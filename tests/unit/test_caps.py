"""Caps read from the journal: attacks per day and faults in place, per policy and global."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chaosmonkey.engine import Engine
from chaosmonkey.faults import Injection
from chaosmonkey.guards.caps import Caps
from chaosmonkey.journal import Journal
from chaosmonkey.model import AttackRecord, Outcome, Target
from chaosmonkey.policy.models import Policy
from tests.unit.fakes import FakeBackend

TARGETS = [Target("docker", f"c{i}", f"w{i}", f"g{i // 2}", {"app": "web"}) for i in range(12)]


def policy(name: str = "p", window: dict[str, Any] | None = None, **limits: Any) -> Policy:
    spec = {
        "dryRun": False,
        "targets": {"labels": {"app": "web"}},
        "fault": {"type": "kill"},
        "recovery": {"timeout": "1s"},
        "limits": limits,
        "window": window,
    }
    return Policy.model_validate(
        {"apiVersion": "chaosmonkey/v1", "kind": "Policy", "metadata": {"name": name}, "spec": spec}
    )


def engine(tmp_path: Path, **caps: Any) -> Engine:
    journal = Journal(tmp_path / "journal.db")
    backend = FakeBackend(TARGETS)
    caps_of = Caps(journal, **caps)
    timer = backend.timer
    return Engine(lambda name: backend, journal, rng=random.Random(1), caps=caps_of, timer=timer)


def test_max_attacks_per_day_of_a_policy(tmp_path: Path) -> None:
    """Two attacks a day: the third run of the day is skipped with the reason; dry runs and
    other policies do not count."""
    monkey = engine(tmp_path)
    limited = policy(max_attacks_per_day=2)
    outcomes = [monkey.run_policy(limited)[0].outcome for _ in range(2)]
    assert outcomes == [Outcome.RECOVERED, Outcome.RECOVERED]
    monkey.run_policy(policy("other"))
    monkey.run_policy(limited, dry_run=True)
    [third] = monkey.run_policy(limited)
    assert third.outcome is Outcome.SKIPPED
    assert third.reason == "policy p made its maxAttacksPerDay (2 of 2)"


def test_a_run_is_trimmed_to_the_room_left(tmp_path: Path) -> None:
    """maxTargets 4 with one attack left today attacks one target."""
    monkey = engine(tmp_path)
    limited = policy(max_targets=4, max_attacks_per_day=3)
    assert (
        len(
            monkey.run_policy(
                policy(
                    max_targets=2,
                    max_attacks_per_day=3,
                )
            )
        )
        == 2
    )
    assert len(monkey.run_policy(limited)) == 1


def test_global_caps_count_every_policy(tmp_path: Path) -> None:
    """The monkey's own cap counts the attacks of all policies together."""
    monkey = engine(tmp_path, max_attacks_per_day=2)
    monkey.run_policy(policy("a"))
    monkey.run_policy(policy("b"))
    [record] = monkey.run_policy(policy("c"))
    assert record.outcome is Outcome.SKIPPED
    assert record.reason == "the monkey made its --max-attacks-per-day (2 of 2)"


def test_faults_in_place_count_against_max_concurrent_faults(tmp_path: Path) -> None:
    """A fault left open (a pause still held elsewhere) fills maxConcurrentFaults 1."""
    monkey = engine(tmp_path)
    journal = monkey.journal
    left_open = policy("held")
    backend = monkey.backend_for("docker")
    record = AttackRecord("open1", "held", "docker", "pause", TARGETS[0], False, created_at=1.0)
    plan = left_open.spec.fault.plan("open1", TARGETS[0], backend)
    journal.record_attack(record, Injection("open1", TARGETS[0], plan))
    [skipped] = monkey.run_policy(policy("held", max_concurrent_faults=1))
    assert skipped.outcome is Outcome.SKIPPED
    assert skipped.reason == "policy held has its maxConcurrentFaults in place (1 of 1)"
    [attacked] = monkey.run_policy(policy("free", max_concurrent_faults=1))
    assert attacked.outcome is Outcome.RECOVERED


@dataclass
class CountingBackend(FakeBackend):
    """Notes the faults in place at each apply."""

    open_at_apply: list[int] = field(default_factory=list)

    def _apply(self, action: str, target: Target) -> float:
        assert self.journal is not None
        with self.lock:
            self.open_at_apply.append(self.journal.count_open_faults())
        return super()._apply(action, target)


FLEET = [Target("docker", f"f{i}", f"f{i}", f"fg{i // 2}", {"app": "web"}) for i in range(48)]


def run_together(monkey: Engine, policies: list[Policy], rounds: int) -> list[AttackRecord]:
    """Every policy run `rounds` times from its own thread, all released at the same instant."""
    start = threading.Barrier(len(policies) * rounds)

    def run(chosen: Policy) -> list[AttackRecord]:
        start.wait()
        return monkey.run_policy(chosen)

    with ThreadPoolExecutor(max_workers=len(policies) * rounds) as pool:
        runs = [pool.submit(run, chosen) for chosen in policies for _ in range(rounds)]
        return [record for done in runs for record in done.result()]


@pytest.mark.parametrize("cap", [1, 3, 7])
def test_runs_at_the_same_instant_never_overshoot_the_daily_cap(tmp_path: Path, cap: int) -> None:
    """Eight policies firing eight times each at once, with --max-attacks-per-day `cap`: exactly
    `cap` faults are recorded and applied, every other run is skipped with the reason."""
    journal = Journal(tmp_path / "journal.db")
    backend = CountingBackend(FLEET, journal=journal, recover_after=0.0)
    caps = Caps(journal, max_attacks_per_day=cap)
    monkey = Engine(lambda name: backend, journal, caps=caps, timer=backend.timer)
    records = run_together(monkey, [policy(f"p{n}") for n in range(8)], rounds=8)
    attacked = [record for record in records if record.outcome is not Outcome.SKIPPED]
    assert len(attacked) == cap
    assert len(backend.applied) == cap
    assert journal.count_attacks(0) == cap
    skipped = {record.reason for record in records if record.outcome is Outcome.SKIPPED}
    assert skipped == {f"the monkey made its --max-attacks-per-day ({cap} of {cap})"}


@pytest.mark.parametrize("cap", [1, 2, 4])
def test_runs_at_the_same_instant_never_overshoot_the_faults_in_place(
    tmp_path: Path, cap: int
) -> None:
    """Policies of two targets each firing at once with --max-concurrent-faults `cap`: at no
    apply are more than `cap` faults recorded as in place."""
    journal = Journal(tmp_path / "journal.db")
    backend = CountingBackend(FLEET, journal=journal, recover_after=0.05)
    caps = Caps(journal, max_concurrent_faults=cap)
    monkey = Engine(lambda name: backend, journal, caps=caps, timer=backend.timer)
    run_together(monkey, [policy(f"p{n}", max_targets=2) for n in range(6)], rounds=4)
    assert backend.open_at_apply
    assert max(backend.open_at_apply) <= cap
    assert journal.count_open_faults() == 0


def test_a_day_is_a_day_of_the_window_timezone_by_the_engine_clock(tmp_path: Path) -> None:
    """maxAttacksPerDay 1 in New York: 23:30 attacks, 23:50 is refused, 00:10 is a new day,
    though all three fall on the same UTC day (and long before the machine's own clock)."""
    monkey = engine(tmp_path)
    limited = policy(window={"timezone": "America/New_York"}, max_attacks_per_day=1)
    outcomes = []
    for utc in (
        datetime(2026, 3, 2, 4, 30),
        datetime(2026, 3, 2, 4, 50),
        datetime(2026, 3, 2, 5, 10),
    ):
        monkey.clock = lambda utc=utc: utc.replace(tzinfo=UTC)
        [record] = monkey.run_policy(limited)
        outcomes.append(record.outcome)
    assert outcomes == [Outcome.RECOVERED, Outcome.SKIPPED, Outcome.RECOVERED]
