"""Runs each policy on its schedule; the only importer of apscheduler.

Attack runs are APScheduler 3 jobs held in memory and written through to the journal's SQLite
file as plain rows (table `scheduled_jobs`, see jobtable.py), each a module-level function with
plain string arguments. Nothing is loaded from the file but a row's text and next run time: the
jobs are rebuilt from the policies at each start, and one whose text is unchanged keeps its
stored next run time across restarts, so a run whose time passed while nobody ran the scheduler
is seen at the next start: later than the misfire grace, it is skipped and reported
(`MissedRun`), never run late.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import structlog
from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from chaosmonkey.errors import ChaosMonkeyError, PolicyError, PolicyErrors
from chaosmonkey.policy.models import Policy, check_cron_form
from chaosmonkey.scheduling.jobtable import TABLE, JobTable, StoredJob

log = structlog.get_logger("chaosmonkey.scheduling.scheduler")

RUNS_TABLE = TABLE
DEFAULT_MISFIRE_GRACE = timedelta(seconds=30)
_RUNS, _TIMERS = "runs", "timers"  # job stores: stored attack runs; the daemon's own timers
_MAX_COUNTED = 10_000  # fire times counted one by one when reporting runs missed meanwhile


def check_cron(expression: str) -> None:
    """Raises ValueError unless `expression` is a five-field crontab line with named weekdays
    whose every field APScheduler's parser accepts."""
    check_cron_form(expression)
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as error:
        raise ValueError(f"expected a valid cron expression, got {expression!r}: {error}") from None


def check_schedules(policies: Iterable[Policy]) -> None:
    """PolicyErrors, at the line of each `schedule.cron` the parser refuses (the policy format
    checks its form only, without the scheduler)."""
    errors = []
    for policy in policies:
        cron = policy.spec.schedule.cron if policy.spec.schedule else None
        if cron is None:
            continue
        try:
            check_cron(cron)
        except ValueError as error:
            where = policy.where("spec", "schedule", "cron")
            errors.append(PolicyError(where, f"spec.schedule.cron: {error}"))
    if errors:
        raise PolicyErrors(errors)


def has_trigger(policy: Policy) -> bool:
    """An interval or a cron; policies without a schedule run by hand, and Chaos Monkey mode
    policies by their daily plan (`chaosmonkey plan`)."""
    schedule = policy.spec.schedule
    return schedule is not None and not schedule.chaos_monkey_mode


def trigger_for(policy: Policy) -> BaseTrigger:
    """The APScheduler trigger of a policy's schedule, in its window's timezone."""
    schedule = policy.spec.schedule
    if schedule is None:
        raise ValueError(f"policy {policy.name} has no schedule")
    timezone = policy.spec.window.timezone if policy.spec.window else "UTC"
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=timezone)
    assert schedule.interval is not None
    return IntervalTrigger(seconds=schedule.interval.total_seconds(), timezone=timezone)


def next_runs(policy: Policy, count: int, now: datetime | None = None) -> list[datetime]:
    """The next `count` fire times of a policy's schedule after `now`."""
    trigger = trigger_for(policy)
    now = now or datetime.now(UTC)
    runs: list[datetime] = []
    previous = None
    moment = now
    while len(runs) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        runs.append(fire)
        previous, moment = fire, fire + timedelta(microseconds=1)
    return runs


def date_trigger(at: datetime) -> BaseTrigger:
    """A trigger firing once, at `at` (even when `at` is past: the misfire grace then decides)."""
    return DateTrigger(run_date=at, timezone=UTC)


class SchedulerError(ChaosMonkeyError):
    """The scheduler's job table in the journal cannot be read or written."""


@dataclass(frozen=True)
class RunJob:
    """A stored job: `function` (module level, stored by its name `module:function` only) is
    called with `args` (plain strings) each time `trigger` fires."""

    id: str
    function: Callable[..., None]
    args: tuple[str, ...]
    trigger: BaseTrigger


@dataclass(frozen=True)
class MissedRun:
    """`count` runs of job `job_id` that did not run: the latest was due at `scheduled_at` and
    seen `late` after it, past the misfire grace."""

    job_id: str
    scheduled_at: datetime
    late: timedelta
    count: int = 1


@dataclass
class Reconciled:
    """What `RunScheduler.start` did with each job id."""

    kept: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class RunScheduler:
    """A background scheduler whose attack runs persist in the journal's table `scheduled_jobs`.

    One process at a time may run it on a journal: the monkey holding the lease (see daemon.py).
    The job table takes no lock between processes, so two schedulers on one table would
    each run, update and remove the same jobs; one table per process instead (keyed by holder)
    would lose the next run times at every restart, and with them the missed runs. Keeping the
    single table to the leader gives one writer, the process that may attack anyway, and hands
    the jobs over with the lease: a new leader carries on from the next run times its predecessor
    stored, so runs due during a takeover run late within the grace, or are reported as missed.

    Runs are coalesced (one run for several due at once) and one at a time per job; runs later
    than `misfire_grace` (whole seconds, at least 1) go to `on_missed`, as do the coalesced ones a
    restart finds past it.
    """

    def __init__(
        self,
        db: Path,
        on_missed: Callable[[MissedRun], None],
        misfire_grace: timedelta = DEFAULT_MISFIRE_GRACE,
    ) -> None:
        self._db, self._on_missed = db, on_missed
        # APScheduler counts the grace in whole seconds
        self._grace = timedelta(seconds=max(1, math.ceil(misfire_grace.total_seconds())))
        self._store: _WrittenThrough | None = None  # made at start: the table is opened there
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={_TIMERS: MemoryJobStore()},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        self._scheduler.add_listener(self._busy, EVENT_JOB_MAX_INSTANCES)
        # its own warnings (a run missed, one still going) are the listeners' structured lines
        logging.getLogger("apscheduler").setLevel(logging.ERROR)

    def start(self, jobs: Iterable[RunJob]) -> Reconciled:
        """Starts with exactly `jobs` stored: a stored job whose function, arguments and trigger
        are unchanged is kept with its next run time (runs missed meanwhile are reported), a
        changed one is replaced, any other stored job is removed."""
        try:
            table = JobTable(self._db)
        except sqlite3.Error as error:
            raise SchedulerError(f"{self._db}: cannot use table {RUNS_TABLE}: {error}") from None
        self._store = _WrittenThrough(table, self._text)
        self._scheduler.add_jobstore(self._store, _RUNS)
        try:
            self._scheduler.start(paused=True)
            done = self._reconcile(list(jobs), table.load(), datetime.now(UTC))
        except sqlite3.Error as error:
            self.shutdown(wait=False)
            raise SchedulerError(f"{self._db}: cannot use table {RUNS_TABLE}: {error}") from None
        self._store.strict = False  # from now on a failed write is logged, the runs go on
        log.info("scheduled_runs_reconciled", **{k: v for k, v in vars(done).items() if v})
        self._scheduler.resume()
        return done

    def add(self, jobs: Iterable[RunJob]) -> list[str]:
        """Stores the jobs not stored yet (a stored job of the same id is kept); their ids."""
        added = []
        for job in jobs:
            if self._scheduler.get_job(job.id, _RUNS) is None:
                self._add(job)
                added.append(job.id)
        return added

    def every_day(self, name: str, callback: Callable[[], None], at: time, timezone: str) -> None:
        """Calls `callback` daily at `at` in `timezone`; in memory, late calls still happen."""
        trigger = CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=timezone)
        self._timer(name, callback, trigger)

    def once(self, name: str, callback: Callable[[], None], after: timedelta) -> None:
        """Calls `callback` once, `after` from now; in memory, replacing a timer of that name."""
        self._timer(name, callback, date_trigger(datetime.now(UTC) + after))

    def next_run_times(self) -> dict[str, datetime | None]:
        """The stored jobs and when each runs next (None: paused)."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs(jobstore=_RUNS)}

    def shutdown(self, wait: bool = True) -> None:
        """Stops firing; with `wait`, returns once the running jobs ended. Stored jobs stay."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)  # closes the job table

    def _reconcile(
        self, jobs: list[RunJob], stored: dict[str, StoredJob], now: datetime
    ) -> Reconciled:
        assert self._store is not None
        done, wanted = Reconciled(), {job.id: job for job in jobs}
        for job_id, row in stored.items():
            job = wanted.get(job_id)
            if job is None:
                self._store.table.delete(job_id)
                done.removed.append(job_id)
            elif row.job == self._text_of(job.function, job.args, job.trigger):
                del wanted[job_id]
                self._add(job, row.next_run_time)
                done.kept.append(job_id)
                self._report_coalesced(job_id, job.trigger, row.next_run_time, now)
        for job in wanted.values():
            self._add(job)
            (done.replaced if job.id in stored else done.added).append(job.id)
        return done

    def _text(self, job: Job) -> str:
        """What a stored job does, as its row says it: equal texts, alike jobs."""
        return _job_text(job.func, job.args, job.trigger, job.misfire_grace_time)

    def _text_of(
        self, function: Callable[..., None], args: Iterable[object], trigger: BaseTrigger
    ) -> str:
        return _job_text(function, args, trigger, int(self._grace.total_seconds()))

    def _add(self, job: RunJob, next_run_time: datetime | None = None) -> None:
        """Stores `job`, first due at `next_run_time` (a kept one's) or when its trigger says."""
        kept = {} if next_run_time is None else {"next_run_time": next_run_time}
        self._scheduler.add_job(
            job.function,
            job.trigger,
            args=list(job.args),
            id=job.id,
            name=job.id,
            jobstore=_RUNS,
            replace_existing=True,
            misfire_grace_time=int(self._grace.total_seconds()),
            **kept,
        )

    def _timer(self, name: str, callback: Callable[[], None], trigger: BaseTrigger) -> None:
        self._scheduler.add_job(
            callback,
            trigger,
            id=name,
            jobstore=_TIMERS,
            replace_existing=True,
            misfire_grace_time=None,
        )

    def _report_coalesced(
        self, job_id: str, trigger: BaseTrigger, first: datetime, now: datetime
    ) -> None:
        """Reports the runs a kept job missed before its latest due one (which APScheduler itself
        runs, within the grace, or reports): coalescing would drop them silently."""
        due = _fire_times(trigger, first, now)
        missed = [at for at in due[:-1] if now - at > self._grace]
        if missed:
            self._on_missed(MissedRun(job_id, missed[-1], now - missed[-1], len(missed)))

    def _missed(self, event: JobExecutionEvent) -> None:
        if event.jobstore == _RUNS:
            late = datetime.now(UTC) - event.scheduled_run_time
            self._on_missed(MissedRun(event.job_id, event.scheduled_run_time, late))

    def _busy(self, event: JobSubmissionEvent) -> None:
        log.info("run_skipped", job=event.job_id, reason="its previous run is still going")


class _WrittenThrough(MemoryJobStore):  # type: ignore[misc]
    """APScheduler's job store in memory, each change written to the job table as a plain row.

    While `strict` (the start), a failed write raises; afterwards it is logged: raising on the
    scheduler's thread would stop it, and the jobs in memory still run."""

    def __init__(self, table: JobTable, text: Callable[[Job], str]) -> None:
        super().__init__()
        self.table, self._text, self.strict = table, text, True

    def add_job(self, job: Job) -> None:
        super().add_job(job)
        self._write(job.id, lambda: self._put(job))

    def update_job(self, job: Job) -> None:
        super().update_job(job)
        self._write(job.id, lambda: self._put(job))

    def remove_job(self, job_id: str) -> None:
        super().remove_job(job_id)
        self._write(job_id, lambda: self.table.delete(job_id))

    def remove_all_jobs(self) -> None:
        super().remove_all_jobs()
        self._write(None, self.table.clear)

    def shutdown(self) -> None:
        """Forgets the jobs in memory only: the rows stay for the next start."""
        super().remove_all_jobs()
        self.table.close()

    def _put(self, job: Job) -> None:
        if job.next_run_time is None:  # paused: nothing to keep
            self.table.delete(job.id)
        else:
            self.table.put(job.id, self._text(job), job.next_run_time)

    def _write(self, job_id: str | None, write: Callable[[], None]) -> None:
        try:
            write()
        except sqlite3.Error as error:
            if self.strict:
                raise
            log.error("scheduled_job_not_stored", job=job_id, table=TABLE, error=str(error))


def _job_text(
    function: Callable[..., None], args: Iterable[object], trigger: BaseTrigger, grace_s: int | None
) -> str:
    """A job as its row's text: its function's name, arguments, trigger and misfire grace."""
    name = f"{function.__module__}:{function.__qualname__}"
    return json.dumps(
        {
            "function": name,
            "args": [str(arg) for arg in args],
            "trigger": repr(_trigger_key(trigger)),
            "misfire_grace_s": grace_s,
        },
        sort_keys=True,
    )


def _trigger_key(trigger: BaseTrigger) -> tuple[Any, ...]:
    """What makes two triggers fire alike (an interval's start is when it was first stored)."""
    if isinstance(trigger, IntervalTrigger):
        return ("interval", trigger.interval, str(trigger.timezone), trigger.jitter)
    if isinstance(trigger, DateTrigger):
        return ("date", trigger.run_date)
    return (type(trigger).__name__, repr(trigger))


def _fire_times(trigger: BaseTrigger, first: datetime | None, now: datetime) -> list[datetime]:
    """The fire times from `first` up to `now` (as APScheduler finds them due), at most
    _MAX_COUNTED."""
    times: list[datetime] = []
    while first is not None and first <= now and len(times) < _MAX_COUNTED:
        times.append(first)
        first = trigger.get_next_fire_time(first, now)
    return times
