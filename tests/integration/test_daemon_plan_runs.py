"""The daemon's runs of Chaos Monkey mode plans, with the real scheduler and a real journal file,
and a backend held in memory: a planned row attacks its group at its time and is marked done; a
row whose time passed while no monkey ran is logged, counted and marked missed, never run."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from chaosmonkey.daemon.runs import Runs, plan_job_id
from chaosmonkey.engine import Engine
from chaosmonkey.journal import Journal
from chaosmonkey.metrics import Metrics
from chaosmonkey.model import Target
from chaosmonkey.policy.models import Policy
from chaosmonkey.scheduling.planning import PlannedRun, PlanStore, Skipped, draw_plan
from tests.unit.fakes import FakeBackend
from tests.waiting import wait_until

ALL_DAY = {"timezone": "UTC", "start": "00:00", "end": "23:59:59"}
TARGETS = [
    Target("docker", "a0", "api-0", "api", {"app": "shop"}),
    Target("docker", "a1", "api-1", "api", {"app": "shop"}),
    Target("docker", "w0", "web-0", "web", {"app": "shop"}),
]
GRACE = timedelta(seconds=1)


def chaos_policy(window: dict[str, Any] = ALL_DAY) -> Policy:
    return Policy.model_validate(
        {
            "apiVersion": "chaosmonkey/v1",
            "kind": "Policy",
            "metadata": {"name": "cm"},
            "spec": {
                "dryRun": False,
                "targets": {"labels": {"app": "shop"}},
                "fault": {"type": "kill"},
                "schedule": {"meanTimeBetweenAttacks": "1d"},
                "window": window,
                "limits": {"allowLastMember": True},
                "recovery": {"timeout": "1s"},
            },
        }
    )


@dataclass
class Monkey:
    """One process's parts: journal, engine on a fake backend, metrics, and its `Runs`."""

    db: Path
    backend: FakeBackend
    registry: CollectorRegistry
    runs: Runs

    def missed(self) -> float | None:
        return self.registry.get_sample_value("chaosmonkey_runs_missed_total", {"policy": "cm"})

    def status(self, group: str) -> str | None:
        return self.runs.plans.status("cm", today(), group)


def today() -> date:
    return datetime.now(UTC).date()


def seed(db: Path, *rows: PlannedRun) -> None:
    """Today's plan of policy cm, stored as `chaosmonkey plan` or an earlier monkey would."""
    with PlanStore(db) as store:
        store.save("cm", today(), rows)


@pytest.fixture
def monkey(tmp_path: Path) -> Iterator[Callable[[], Monkey]]:
    """Makes monkeys on one journal file; every one is stopped at the end."""
    made: list[tuple[Runs, Journal]] = []

    def make() -> Monkey:
        journal = Journal(tmp_path / "j.db")
        backend = FakeBackend(list(TARGETS), journal=journal)
        registry = CollectorRegistry()
        metrics = Metrics(registry)
        metrics.declare("cm", "kill", "docker")
        timer = backend.timer
        engine = Engine(lambda name: backend, journal, metrics, random.Random(7), timer=timer)
        runs = Runs([chaos_policy()], engine, tmp_path / "j.db", metrics, GRACE)
        made.append((runs, journal))
        return Monkey(tmp_path / "j.db", backend, registry, runs)

    yield make
    for runs, journal in made:
        runs.__exit__(None, None, None)
        journal.close()


def test_a_planned_run_attacks_its_group_at_its_time_and_is_marked_done(
    monkey: Callable[[], Monkey],
) -> None:
    """A row planned 0.5 s ahead attacks one target of its group only, once, and is marked done;
    its job leaves the job table."""
    one = monkey()
    seed(one.db, PlannedRun("api", datetime.now(UTC) + timedelta(seconds=0.5)))
    one.runs.lead(lambda: True)
    wait_until(lambda: one.status("api") == "done", "the planned row marked done")
    assert [injection.target.group for injection in one.backend.applied] == ["api"]
    assert one.missed() == 0
    assert one.runs.scheduler is not None
    assert plan_job_id("cm", today(), "api") not in one.runs.scheduler.next_run_times()


def test_a_time_passed_while_no_monkey_ran_is_missed_logged_counted_and_marked(
    monkey: Callable[[], Monkey],
) -> None:
    """A row planned ten minutes ago (grace 1 s) is not run at the start: a warning names the
    policy, the scheduled time and the delay, the counter says 1, the row says missed."""
    one = monkey()
    due = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    seed(one.db, PlannedRun("web", due))
    with capture_logs() as logs:
        one.runs.lead(lambda: True)
        wait_until(lambda: one.status("web") != "planned", "the missed row marked")
    [warning] = [line for line in logs if line["event"] == "run_missed"]
    assert warning["log_level"] == "warning"
    assert (warning["policy"], warning["group"]) == ("cm", "web")
    assert warning["scheduled_at"] == due.isoformat()
    assert warning["late_s"] >= 600
    assert one.missed() == 1
    assert one.status("web") == "skipped"
    [entry] = one.runs.plans.load("cm", today())
    assert entry.reason is not None
    assert entry.reason.startswith(f"missed: due {due:%H:%M:%S} UTC, seen 10m")
    assert one.backend.applied == []


def test_a_restart_keeps_the_plan_and_its_stored_job(monkey: Callable[[], Monkey]) -> None:
    """A monkey stopped and started again finds today's plan unchanged (not drawn again) and the
    planned row's job stored with the same time; nothing is attacked or missed."""
    at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    first = monkey()
    seed(first.db, PlannedRun("api", at), Skipped("web", "drawn out (p=0.5)"))
    first.runs.lead(lambda: True)
    assert first.runs.scheduler is not None
    jobs = first.runs.scheduler.next_run_times()
    plan = first.runs.plans.load("cm", today())
    first.runs.resign(wait=True)

    second = monkey()
    second.runs.lead(lambda: True)

    assert second.runs.plans.load("cm", today()) == plan
    assert second.runs.scheduler is not None
    assert second.runs.scheduler.next_run_times() == jobs == {plan_job_id("cm", today(), "api"): at}
    assert first.backend.applied == second.backend.applied == []
    assert second.missed() == 0


def test_without_a_stored_plan_the_day_is_drawn_with_times_still_ahead(
    monkey: Callable[[], Monkey],
) -> None:
    """Started with no plan for today, the monkey draws one (mean 1d: every group) at times from
    now on, and stores one job per planned row."""
    started = datetime.now(UTC)
    one = monkey()
    one.runs.lead(lambda: True)
    entries = one.runs.plans.load("cm", today())
    assert [entry.group for entry in entries] == ["api", "web"]
    assert all(entry.at is not None and entry.at > started for entry in entries)
    assert one.runs.scheduler is not None
    assert set(one.runs.scheduler.next_run_times()) == {
        plan_job_id("cm", today(), group) for group in ("api", "web")
    }


def test_a_run_when_this_monkey_no_longer_leads_is_counted_not_run(
    monkey: Callable[[], Monkey],
) -> None:
    """At its time the lease says another monkey leads: nothing is attacked, the run is counted
    missed, and the row stays planned for the leader."""
    one = monkey()
    seed(one.db, PlannedRun("api", datetime.now(UTC) + timedelta(seconds=0.3)))
    one.runs.lead(lambda: False)
    wait_until(lambda: one.missed() == 1, "the run counted missed")
    assert one.backend.applied == []
    assert one.status("api") == "planned"


def test_a_plan_drawn_late_draws_from_the_rest_of_the_window() -> None:
    """Drawn at 13:00 for a 09:00-17:00 window every time is from 13:00 on; drawn at 18:00
    every group is left out because the window is over."""
    office = {"timezone": "UTC", "start": "09:00", "end": "17:00"}
    day, groups = date(2026, 3, 2), [f"g{n}" for n in range(50)]
    noon = datetime(2026, 3, 2, 13, tzinfo=UTC)
    plan = draw_plan(chaos_policy(office), groups, day, {}, random.Random(1), noon)
    times = [item.at for item in plan if isinstance(item, PlannedRun)]
    assert len(times) == 50
    assert min(times) > noon
    assert max(times) < datetime(2026, 3, 2, 17, tzinfo=UTC)
    evening = datetime(2026, 3, 2, 18, tzinfo=UTC)
    late = draw_plan(chaos_policy(office), groups, day, {}, random.Random(1), evening)
    assert {item.reason for item in late if isinstance(item, Skipped)} == {
        "drawn at 2026-03-02 18:00, after the window ended (17:00)"
    }
