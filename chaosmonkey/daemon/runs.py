"""The attack runs of a leading monkey: a stored job per timetable (interval or cron) and per
planned row of Chaos Monkey mode policies, in the persistent scheduler.

Each job is a function of this module named by reference (`run_scheduled`, `run_planned`) with
plain string arguments, resolved at run time to the policies and engine of the live monkey
(`Runs.live`). The scheduler runs only while this monkey leads (`scheduling.RunScheduler` says
why that table has one writer).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import date, time, timedelta
from functools import partial
from pathlib import Path
from typing import ClassVar

import structlog

from chaosmonkey.durations import format_duration
from chaosmonkey.engine import Engine
from chaosmonkey.errors import ChaosMonkeyError, NoTargets
from chaosmonkey.metrics import Metrics
from chaosmonkey.model import AttackRecord, Outcome
from chaosmonkey.policy.models import Policy
from chaosmonkey.scheduling.planning import PlanEntry, PlanStore, is_chaos_monkey_mode, plan_today
from chaosmonkey.scheduling.scheduler import (
    DEFAULT_MISFIRE_GRACE,
    MissedRun,
    RunJob,
    RunScheduler,
    date_trigger,
    has_trigger,
    trigger_for,
)
from chaosmonkey.selection import eligible

log = structlog.get_logger("chaosmonkey.daemon.runs")

PLAN_AT = time(0, 0, 1)  # a second into the local day, when the new date is certain
PLANNING_RETRY = timedelta(minutes=1)


def run_scheduled(policy: str) -> None:
    """A stored job's function: one timetable run of `policy` (a name) by the live monkey."""
    if runs := Runs.live:
        runs.run_timetable(policy)
    else:
        log.warning("run_not_leading", policy=policy)


def run_planned(policy: str, day: str, group: str) -> None:
    """A stored job's function: the attack of `group` planned by `policy` for `day` (ISO date)."""
    if runs := Runs.live:
        runs.run_planned(policy, date.fromisoformat(day), group)
    else:
        log.warning("run_not_leading", policy=policy, group=group)


def plan_job_id(policy: str, day: date, group: str) -> str:
    """The stored job of one planned row (a policy's name has no '/'; a group may)."""
    return f"{policy}/{day.isoformat()}/{group}"


class Runs:
    """The attack runs of a leading monkey: a job per timetable (interval or cron) and a job per
    planned row of Chaos Monkey mode policies, in the persistent scheduler."""

    live: ClassVar[Runs | None] = None  # the runs of this process while it leads

    def __init__(
        self,
        policies: Iterable[Policy],
        engine: Engine,
        db: Path,
        metrics: Metrics,
        misfire_grace: timedelta = DEFAULT_MISFIRE_GRACE,
    ) -> None:
        self.policies = {policy.name: policy for policy in policies}
        self.plans = PlanStore(db)
        self.scheduler: RunScheduler | None = None
        self._engine, self._db, self._metrics, self._grace = engine, db, metrics, misfire_grace
        self._leads: Callable[[], bool] = lambda: False
        self._taken: set[tuple[str, date, str]] = set()  # planned rows this process ran
        self._lock = threading.Lock()

    def __enter__(self) -> Runs:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.resign(wait=True)
        self.plans.close()

    def lead(self, leads: Callable[[], bool]) -> None:
        """Starts the scheduler with this monkey's jobs (the stored ones reconciled), plans
        today, and plans again after each local midnight; `leads` is asked before each run."""
        self._leads = leads
        Runs.live = self
        scheduler = RunScheduler(self._db, self._missed, self._grace)
        scheduler.start([*self._timetable_jobs(), *self._plan_jobs(self.plans.planned())])
        self.scheduler = scheduler
        self.plan()
        for zone in sorted({p.spec.window.timezone for p in self._planned() if p.spec.window}):
            scheduler.every_day(f"plan-{zone}", self.plan, PLAN_AT, zone)

    def resign(self, wait: bool) -> None:
        """Stops the scheduler (its jobs stay stored); with `wait`, once running attacks end."""
        scheduler, self.scheduler = self.scheduler, None
        if Runs.live is self:
            Runs.live = None
        if scheduler is not None:
            scheduler.shutdown(wait)

    def plan(self) -> None:
        """Today's plan of each Chaos Monkey mode policy (drawn once a day), its rows to come
        scheduled; a policy whose groups cannot be listed is planned again a minute later."""
        now, failed = self._engine.clock(), False
        for policy in self._planned():
            try:
                entries = plan_today(
                    self.plans, policy, partial(self._groups, policy), now, self._engine.rng
                )
            except ChaosMonkeyError as error:
                log.error("planning_failed", policy=policy.name, error=str(error))
                failed = True
                continue
            planned = [entry.group for entry in entries if entry.status == "planned"]
            log.info("plan_ready", policy=policy.name, planned=planned, groups=len(entries))
        if scheduler := self.scheduler:
            scheduler.add(self._plan_jobs(self.plans.planned_after(now)))
            if failed:
                scheduler.once("plan-retry", self.plan, PLANNING_RETRY)

    def run_timetable(self, name: str) -> None:
        """One run of a scheduled policy, while this monkey leads."""
        policy = self.policies.get(name)
        if policy is not None and self._may_run(name):
            self._run(policy)

    def run_planned(self, name: str, day: date, group: str) -> None:
        """The planned attack of `group`, once: the row is marked done, or skipped with the
        reason when nothing was attacked."""
        policy = self.policies.get(name)
        if policy is None or self.plans.status(name, day, group) != "planned":
            log.info("planned_run_not_due", policy=name, group=group, day=day.isoformat())
            return
        if not self._may_run(name, group) or not self._take(name, day, group):
            return
        records = self._run(policy, group)
        if any(r.injected_at is not None or r.outcome is Outcome.DRY_RUN for r in records):
            self.plans.mark_done(name, day, group)
        else:
            reason = next((r.reason for r in records if r.reason), "nothing was attacked")
            self.plans.mark_skipped(name, day, group, reason)

    def _take(self, name: str, day: date, group: str) -> bool:
        """True the first time only: a row's job stored again while it runs does not run twice."""
        with self._lock:
            first = (name, day, group) not in self._taken
            self._taken.add((name, day, group))
        return first

    def _may_run(self, name: str, group: str | None = None) -> bool:
        if self._leads():
            return True
        log.warning("run_missed", policy=name, group=group, reason="this monkey no longer leads")
        self._metrics.runs_missed(name)
        return False

    def _run(self, policy: Policy, group: str | None = None) -> list[AttackRecord]:
        try:
            return self._engine.run_policy(policy, group=group)
        except NoTargets as error:
            return [self._engine.record_unrun(policy, Outcome.SKIPPED, str(error))]
        except ChaosMonkeyError as error:
            return [self._engine.record_unrun(policy, Outcome.FAILED, str(error))]

    def _missed(self, missed: MissedRun) -> None:
        """A run seen later than the grace: logged, counted, and its planned row marked."""
        name, _, rest = missed.job_id.partition("/")
        day, _, group = rest.partition("/")
        late = format_duration(timedelta(seconds=round(missed.late.total_seconds())))
        grace = format_duration(self._grace)
        log.warning(
            "run_missed",
            policy=name,
            group=group or None,
            scheduled_at=missed.scheduled_at.isoformat(),
            late_s=round(missed.late.total_seconds(), 3),
            misfire_grace_s=self._grace.total_seconds(),
            runs=missed.count,
        )
        self._metrics.runs_missed(name, missed.count)
        if group:
            reason = (
                f"missed: due {missed.scheduled_at:%H:%M:%S} UTC, seen {late} late (grace {grace})"
            )
            self.plans.mark_skipped(name, date.fromisoformat(day), group, reason)

    def _planned(self) -> list[Policy]:
        return [policy for policy in self.policies.values() if is_chaos_monkey_mode(policy)]

    def _groups(self, policy: Policy) -> set[str]:
        """The groups of the targets `policy` may attack now (see Engine.select)."""
        backend = self._engine.backend_for(policy.spec.backend)
        targets = eligible(backend.list_targets(policy.spec.targets), policy.spec.targets)
        return {target.group for target in targets}

    def _timetable_jobs(self) -> list[RunJob]:
        return [
            RunJob(policy.name, run_scheduled, (policy.name,), trigger_for(policy))
            for policy in self.policies.values()
            if has_trigger(policy)
        ]

    def _plan_jobs(self, entries: Iterable[PlanEntry]) -> list[RunJob]:
        """A job per planned row of a loaded Chaos Monkey mode policy."""
        planned = {policy.name for policy in self._planned()}
        return [
            RunJob(
                plan_job_id(entry.policy, entry.day, entry.group),
                run_planned,
                (entry.policy, entry.day.isoformat(), entry.group),
                date_trigger(entry.at),
            )
            for entry in entries
            if entry.policy in planned and entry.at is not None
        ]
