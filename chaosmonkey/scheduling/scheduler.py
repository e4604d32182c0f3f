"""Runs each policy on its schedule; the only importer of apscheduler.

Attack runs are APScheduler 3 jobs stored in the journal's SQLite file (table `scheduled_runs`,
through SQLAlchemy), each an importable function with plain string arguments. A stored job keeps
its next run time across restarts, so a run whose time passed while nobody ran the scheduler is
seen at the next start: later than the misfire grace, it is skipped and reported (`MissedRun`),
never run late.
"""

from __future__ import annotations

import logging
import math
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

log = structlog.get_logger("chaosmonkey.scheduling.scheduler")

RUNS_TABLE = "scheduled_runs"
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
    """A stored job: `function` (module level, stored as `module:function`) is called with
    `args` (plain strings, pickled) each time `trigger` fires."""

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
    """A background scheduler whose attack runs persist in the journal's table `scheduled_runs`.

    One process at a time may run it on a journal: the monkey holding the lease (see daemon.py).
    APScheduler's job stores take no lock between processes, so two schedulers on one table would
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
        # SQLAlchemy takes ~120 ms to import: only the daemon pays for it, not every command
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from sqlalchemy import URL, create_engine

        engine = create_engine(URL.create("sqlite", database=str(db)), connect_args={"timeout": 30})
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={
                _RUNS: SQLAlchemyJobStore(engine=engine, tablename=RUNS_TABLE),
                _TIMERS: MemoryJobStore(),
            },
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
        from sqlalchemy.exc import SQLAlchemyError

        try:
            self._scheduler.start(paused=True)
            done = self._reconcile(list(jobs), datetime.now(UTC))
        except SQLAlchemyError as error:
            self.shutdown(wait=False)
            reason = str(getattr(error, "orig", None) or error).splitlines()[0]
            raise SchedulerError(f"{self._db}: cannot use table {RUNS_TABLE}: {reason}") from None
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
            self._scheduler.shutdown(wait=wait)

    def _reconcile(self, jobs: list[RunJob], now: datetime) -> Reconciled:
        done, wanted = Reconciled(), {job.id: job for job in jobs}
        for stored in self._scheduler.get_jobs(jobstore=_RUNS):
            job = wanted.get(stored.id)
            if job is None:
                self._scheduler.remove_job(stored.id, _RUNS)
                done.removed.append(stored.id)
            elif self._unchanged(stored, job):
                del wanted[stored.id]
                done.kept.append(stored.id)
                self._report_coalesced(stored, now)
        for job in wanted.values():
            replaced = self._scheduler.get_job(job.id, _RUNS) is not None
            self._add(job)
            (done.replaced if replaced else done.added).append(job.id)
        return done

    def _unchanged(self, stored: Job, job: RunJob) -> bool:
        return (
            stored.func is job.function  # (its stored reference may be an older name of it)
            and tuple(stored.args) == job.args
            and stored.misfire_grace_time == int(self._grace.total_seconds())
            and _trigger_key(stored.trigger) == _trigger_key(job.trigger)
        )

    def _add(self, job: RunJob) -> None:
        self._scheduler.add_job(
            job.function,
            job.trigger,
            args=list(job.args),
            id=job.id,
            name=job.id,
            jobstore=_RUNS,
            replace_existing=True,
            misfire_grace_time=int(self._grace.total_seconds()),
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

    def _report_coalesced(self, stored: Job, now: datetime) -> None:
        """Reports the runs a kept job missed before its latest due one (which APScheduler itself
        runs, within the grace, or reports): coalescing would drop them silently."""
        due = _fire_times(stored.trigger, stored.next_run_time, now)
        missed = [at for at in due[:-1] if now - at > self._grace]
        if missed:
            self._on_missed(MissedRun(stored.id, missed[-1], now - missed[-1], len(missed)))

    def _missed(self, event: JobExecutionEvent) -> None:
        if event.jobstore == _RUNS:
            late = datetime.now(UTC) - event.scheduled_run_time
            self._on_missed(MissedRun(event.job_id, event.scheduled_run_time, late))

    def _busy(self, event: JobSubmissionEvent) -> None:
        log.info("run_skipped", job=event.job_id, reason="its previous run is still going")


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
