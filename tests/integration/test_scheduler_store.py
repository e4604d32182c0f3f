"""The scheduler's stored jobs in a real SQLite file: kept, replaced or removed at start, and runs
that came due while no scheduler ran reported as missed instead of run late."""

from __future__ import annotations

import queue
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chaosmonkey.journal import Journal
from chaosmonkey.policy.models import Policy
from chaosmonkey.scheduling.scheduler import (
    RUNS_TABLE,
    MissedRun,
    RunJob,
    RunScheduler,
    SchedulerError,
    date_trigger,
    trigger_for,
)
from tests.waiting import wait_until

FIRED: queue.Queue[str] = queue.Queue()  # what `fire` was called with, from the job threads
GRACE = timedelta(seconds=1)


def fire(name: str) -> None:
    """A stored job's function: importable, with a plain string argument."""
    FIRED.put(name)


def fired() -> list[str]:
    names = []
    while not FIRED.empty():
        names.append(FIRED.get_nowait())
    return names


def policy(schedule: dict[str, Any]) -> Policy:
    spec = {"fault": {"type": "kill"}, "schedule": schedule}
    return Policy.model_validate(
        {"apiVersion": "chaosmonkey/v1", "kind": "Policy", "metadata": {"name": "p"}, "spec": spec}
    )


def job(name: str, schedule: dict[str, Any]) -> RunJob:
    return RunJob(name, fire, (name,), trigger_for(policy(schedule)))


def once(name: str, at: datetime) -> RunJob:
    return RunJob(name, fire, (name,), date_trigger(at))


class Schedulers:
    """Starts schedulers on one journal file; each missed run lands in `missed`."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.missed: queue.Queue[MissedRun] = queue.Queue()
        self.started: list[RunScheduler] = []

    def start(self, jobs: list[RunJob]) -> tuple[RunScheduler, Any]:
        scheduler = RunScheduler(self.db, self.missed.put, GRACE)
        self.started.append(scheduler)
        return scheduler, scheduler.start(jobs)


@pytest.fixture
def schedulers(tmp_path: Path) -> Iterator[Schedulers]:
    """Schedulers on a journal's file (the journal's own tables made first, as the daemon does)."""
    Journal(tmp_path / "j.db").close()
    fired()
    made = Schedulers(tmp_path / "j.db")
    yield made
    for scheduler in made.started:
        scheduler.shutdown(wait=True)


def test_unchanged_jobs_are_kept_changed_ones_replaced_and_others_removed(
    schedulers: Schedulers,
) -> None:
    """A restart keeps a job whose trigger is unchanged (with its stored next run), replaces one
    whose cron changed, removes one no longer wanted and adds a new one; all in the journal."""
    hourly, nine = job("hourly", {"interval": "1h"}), job("nine", {"cron": "0 9 * * mon-fri"})
    first, done = schedulers.start([hourly, nine, job("gone", {"interval": "1h"})])
    assert sorted(done.added) == ["gone", "hourly", "nine"]
    stored = first.next_run_times()
    first.shutdown()
    time.sleep(0.05)  # a new interval trigger would start later than the stored one

    second, done = schedulers.start(
        [
            job("hourly", {"interval": "1h"}),
            job("nine", {"cron": "0 10 * * mon-fri"}),
            job("new", {"interval": "1h"}),
        ]
    )

    assert (done.kept, done.replaced, done.added, done.removed) == (
        ["hourly"],
        ["nine"],
        ["new"],
        ["gone"],
    )
    now = second.next_run_times()
    assert now["hourly"] == stored["hourly"]
    assert now["nine"] != stored["nine"]
    assert now["nine"].astimezone(UTC).hour == 10
    with sqlite3.connect(schedulers.db) as db:
        ids = {row[0] for row in db.execute(f"SELECT id FROM {RUNS_TABLE}")}
    assert ids == {"hourly", "nine", "new"}


def test_a_run_due_while_no_scheduler_ran_is_missed_not_run(schedulers: Schedulers) -> None:
    """A stored run whose time passed more than the grace ago while nothing ran the scheduler is
    reported at the next start (when, how late) and not run; its job is then done."""
    due = datetime.now(UTC) + timedelta(seconds=1)
    first, _ = schedulers.start([once("planned", due)])
    first.shutdown()
    time.sleep((due + GRACE - datetime.now(UTC)).total_seconds() + 0.5)

    second, done = schedulers.start([once("planned", due)])

    assert done.kept == ["planned"]
    missed = schedulers.missed.get(timeout=10)
    assert (missed.job_id, missed.scheduled_at, missed.count) == ("planned", due, 1)
    assert missed.late > GRACE
    time.sleep(0.2)  # a run, if there were one, would have started by now
    assert fired() == []
    assert "planned" not in second.next_run_times()


def test_a_run_late_within_the_grace_runs(schedulers: Schedulers) -> None:
    """A run due 0.3 s ago (grace 1 s) runs at once, and nothing is reported missed."""
    scheduler, _ = schedulers.start([once("late", datetime.now(UTC) - timedelta(seconds=0.3))])
    assert FIRED.get(timeout=10) == "late"
    wait_until(lambda: not scheduler.next_run_times(), "the job done and removed")
    assert schedulers.missed.empty()


def test_a_run_due_past_the_grace_is_reported_not_run(schedulers: Schedulers) -> None:
    """A run due 5 s ago (grace 1 s) is reported missed, with its delay, and never run."""
    due = datetime.now(UTC) - timedelta(seconds=5)
    schedulers.start([once("old", due)])
    missed = schedulers.missed.get(timeout=10)
    assert (missed.job_id, missed.scheduled_at) == ("old", due)
    assert missed.late >= timedelta(seconds=5)
    assert fired() == []


def test_runs_coalesced_after_a_restart_are_counted_missed(schedulers: Schedulers) -> None:
    """An every-second job stored, then no scheduler for 4.5 s: at the restart the latest due run
    runs (within the grace) and each earlier one past the grace is reported, in one report."""
    every_second = job("tick", {"interval": "1s"})
    first, _ = schedulers.start([every_second])
    first.shutdown()
    time.sleep(4.5)

    schedulers.start([job("tick", {"interval": "1s"})])

    missed = schedulers.missed.get(timeout=10)
    assert missed.job_id == "tick"
    assert missed.count >= 3
    assert missed.late > GRACE
    assert FIRED.get(timeout=10) == "tick"


def test_a_job_table_that_cannot_be_opened_is_one_clear_error(tmp_path: Path) -> None:
    """A journal path in a missing directory: SchedulerError naming the file and the table."""
    db = tmp_path / "missing" / "j.db"
    scheduler = RunScheduler(db, lambda missed: None)
    with pytest.raises(SchedulerError, match=rf"^{db}: cannot use table {RUNS_TABLE}: "):
        scheduler.start([])
