"""The scheduler's stored jobs in a real SQLite file: kept, replaced or removed at start, and runs
that came due while no scheduler ran reported as missed instead of run late."""

from __future__ import annotations

import json
import pickle
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
from chaosmonkey.scheduling.jobtable import LEGACY_TABLE
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


class CreatesFile:
    """Unpickled, creates the file `path`: what a planted pickle could do as root."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def test_a_pickled_job_table_of_an_earlier_monkey_is_dropped_unread(
    schedulers: Schedulers, tmp_path: Path
) -> None:
    """The table where APScheduler pickled its jobs holds a pickle that creates a file when
    loaded: the scheduler starts, adds its job afresh, drops that table, and the file is never
    made."""
    made = tmp_path / "made-by-the-pickle"
    with sqlite3.connect(schedulers.db) as db:
        db.execute(
            f"CREATE TABLE {LEGACY_TABLE} (id VARCHAR(191) PRIMARY KEY, next_run_time FLOAT, "
            "job_state BLOB NOT NULL)"
        )
        db.execute(
            f"INSERT INTO {LEGACY_TABLE} VALUES ('hourly', ?, ?)",
            (time.time() - 60, pickle.dumps(CreatesFile(made))),
        )
    canary = pickle.dumps(CreatesFile(tmp_path / "canary"))
    pickle.loads(canary)  # noqa: S301 (our own payload: it does make the file)
    assert (tmp_path / "canary").exists()

    scheduler, done = schedulers.start([job("hourly", {"interval": "1h"})])

    assert done.added == ["hourly"]
    assert not made.exists()
    with sqlite3.connect(schedulers.db) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert LEGACY_TABLE not in tables
    assert list(scheduler.next_run_times()) == ["hourly"]
    assert fired() == []
    assert schedulers.missed.empty()


@pytest.mark.parametrize(
    ("row", "next_run_time"),
    [
        pytest.param({"function": "os:system", "args": ["touch x"]}, "now", id="foreign-function"),
        pytest.param("not json", "now", id="foreign-text"),
        pytest.param(None, "tomorrow", id="text-time"),
    ],
)
def test_a_row_not_written_by_this_scheduler_is_replaced_not_run(
    schedulers: Schedulers, row: dict[str, Any] | str | None, next_run_time: str
) -> None:
    """A row whose text is not the job's (another function, arguments, or no text at all) or
    whose time is not a number is replaced by the job as the policy makes it, and nothing runs
    at the stored time; a row of no wanted job is removed."""
    wanted = job("hourly", {"interval": "1h"})
    first, _ = schedulers.start([wanted])
    first.shutdown()
    with sqlite3.connect(schedulers.db) as db:
        [(text,)] = db.execute(f"SELECT job FROM {RUNS_TABLE}").fetchall()
        if isinstance(row, dict):
            text = json.dumps({**json.loads(text), **row})
        elif isinstance(row, str):
            text = row
        at: float | str = time.time() if next_run_time == "now" else next_run_time
        db.execute(f"UPDATE {RUNS_TABLE} SET job = ?, next_run_time = ?", (text, at))
        db.execute(f"INSERT INTO {RUNS_TABLE} VALUES ('stray', ?, ?)", (time.time(), text))

    second, done = schedulers.start([job("hourly", {"interval": "1h"})])

    assert (done.replaced, done.removed, done.kept) == (["hourly"], ["stray"], [])
    assert second.next_run_times()["hourly"] > datetime.now(UTC) + timedelta(minutes=59)
    time.sleep(0.2)  # a run, if there were one, would have started by now
    assert fired() == []
    with sqlite3.connect(schedulers.db) as db:
        [(stored_id, stored_text)] = db.execute(f"SELECT id, job FROM {RUNS_TABLE}").fetchall()
    assert stored_id == "hourly"
    assert json.loads(stored_text)["function"] == f"{__name__}:fire"


def test_a_failed_write_after_the_start_is_logged_and_the_runs_go_on(
    schedulers: Schedulers,
) -> None:
    """The job table gone under a running scheduler: the write after the first run fails, and
    the second run still happens (the scheduler's thread is not stopped by it)."""
    now = datetime.now(UTC)
    schedulers.start(
        [once("first", now + timedelta(seconds=0.3)), once("second", now + timedelta(seconds=0.6))]
    )
    with sqlite3.connect(schedulers.db) as db:
        db.execute(f"DROP TABLE {RUNS_TABLE}")

    assert FIRED.get(timeout=10) == "first"
    assert FIRED.get(timeout=10) == "second"
