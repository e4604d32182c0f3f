"""Caps read from the journal: attacks per day and faults in place, per policy and global."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from chaosmonkey.caps import Caps
from chaosmonkey.engine import Engine
from chaosmonkey.journal import Journal
from chaosmonkey.model import AttackRecord, Outcome, Target
from chaosmonkey.policy.models import Policy
from tests.unit.fakes import FakeBackend

TARGETS = [Target("docker", f"c{i}", f"w{i}", f"g{i}", {"app": "web"}) for i in range(6)]


def policy(name: str = "p", **limits: Any) -> Policy:
    spec = {
        "dryRun": False,
        "targets": {"labels": {"app": "web"}},
        "fault": {"type": "kill"},
        "recovery": {"timeout": "1s"},
        "limits": limits,
    }
    return Policy.model_validate(
        {"apiVersion": "chaosmonkey/v1", "kind": "Policy", "metadata": {"name": name}, "spec": spec}
    )


def engine(tmp_path: Path, **caps: Any) -> Engine:
    journal = Journal(tmp_path / "journal.db")
    backend = FakeBackend(TARGETS)
    return Engine(lambda name: backend, journal, rng=random.Random(1), caps=Caps(journal, **caps))


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
    journal.record_attack(record, backend.plan("open1", TARGETS[0], left_open.spec.fault))
    [skipped] = monkey.run_policy(policy("held", max_concurrent_faults=1))
    assert skipped.outcome is Outcome.SKIPPED
    assert skipped.reason == "policy held has its maxConcurrentFaults in place (1 of 1)"
    [attacked] = monkey.run_policy(policy("free", max_concurrent_faults=1))
    assert attacked.outcome is Outcome.RECOVERED
