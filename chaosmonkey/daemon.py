"""`chaosmonkey run`: the scheduler and the exporter, until SIGTERM or SIGINT.

Monkeys sharing a journal elect one leader by its lease. Only the leader runs the scheduler, whose
jobs live in the journal (`scheduling.RunScheduler` says why that table has one writer): it starts
when this monkey takes the lease and stops when it loses or releases it. Each job is a function
of this module named by reference (`run_scheduled`, `run_planned`) with plain string arguments,
resolved at run time to the policies and engine of the live monkey (`Runs`).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, time, timedelta
from functools import partial
from pathlib import Path
from types import FrameType

import structlog

from chaosmonkey.caps import Caps
from chaosmonkey.durations import format_duration
from chaosmonkey.engine import Engine
from chaosmonkey.errors import ChaosMonkeyError, NoTargets
from chaosmonkey.lease import LeaderLease, Lease
from chaosmonkey.metrics import Metrics
from chaosmonkey.model import AttackRecord, Outcome
from chaosmonkey.planning import PlanEntry, PlanStore, is_chaos_monkey_mode, plan_today
from chaosmonkey.policy.models import Policy
from chaosmonkey.runtime import Runtime
from chaosmonkey.scheduling import (
    DEFAULT_MISFIRE_GRACE,
    MissedRun,
    RunJob,
    RunScheduler,
    date_trigger,
    has_trigger,
    trigger_for,
)
from chaosmonkey.selection import eligible

log = structlog.get_logger("chaosmonkey.daemon")

PLAN_AT = time(0, 0, 1)  # a second into the local day, when the new date is certain
PLANNING_RETRY = timedelta(minutes=1)

_live: Runs | None = None  # the runs of this process while it leads; what stored jobs call


def serve(
    policies: list[Policy],
    db: Path,
    metrics_port: int,
    metrics_address: str,
    lease_s: float = 10.0,
    max_attacks_per_day: int | None = None,
    max_concurrent_faults: int | None = None,
    misfire_grace: timedelta = DEFAULT_MISFIRE_GRACE,
    lease_name: str | None = None,
) -> None:
    """Runs the policies on their schedules and plans, and serves /metrics, until SIGTERM or
    SIGINT; running attacks are reverted before it returns. The leader is elected on the
    journal's lease, or on the Kubernetes Lease `lease_name` (NAMESPACE/NAME) when given."""
    stop = threading.Event()
    with Runtime.open(db) as runtime:
        runtime.check_policies(policies)
        engine = runtime.engine
        engine.caps = Caps(runtime.journal, max_attacks_per_day, max_concurrent_faults)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("monkey_stopping", signal=signal.Signals(signum).name)
            engine.halted.set()
            stop.set()

        # first of all: a stop asked for during start-up still lets the reverts below finish
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        metrics = Metrics(active_faults=runtime.journal.active_fault_counts)
        engine.recorder = metrics
        for policy in policies:
            metrics.declare(policy.name, policy.spec.fault.type, policy.spec.backend)
        server = metrics.serve(metrics_port, metrics_address)
        runs = Runs(policies, engine, db, metrics, misfire_grace)
        lease = open_lease(db, lease_s, lease_name)
        with runs, leadership(engine, lease, runs):
            log.info(
                "monkey_started",
                policies=[policy.name for policy in policies],
                armed=[policy.name for policy in policies if not policy.spec.dry_run],
                metrics_port=server.port,
            )
            stop.wait()
        server.shutdown()
        log.info("monkey_stopped")


def run_scheduled(policy: str) -> None:
    """A stored job's function: one timetable run of `policy` (a name) by the live monkey."""
    if runs := _live:
        runs.run_timetable(policy)
    else:
        log.warning("run_not_leading", policy=policy)


def run_planned(policy: str, day: str, group: str) -> None:
    """A stored job's function: the attack of `group` planned by `policy` for `day` (ISO date)."""
    if runs := _live:
        runs.run_planned(policy, date.fromisoformat(day), group)
    else:
        log.warning("run_not_leading", policy=policy, group=group)


def plan_job_id(policy: str, day: date, group: str) -> str:
    """The stored job of one planned row (a policy's name has no '/'; a group may)."""
    return f"{policy}/{day.isoformat()}/{group}"


class Runs:
    """The attack runs of a leading monkey: a job per timetable (interval or cron) and a job per
    planned row of Chaos Monkey mode policies, in the persistent scheduler."""

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
        global _live
        self._leads, _live = leads, self
        scheduler = RunScheduler(self._db, self._missed, self._grace)
        scheduler.start([*self._timetable_jobs(), *self._plan_jobs(self.plans.planned())])
        self.scheduler = scheduler
        self.plan()
        for zone in sorted({p.spec.window.timezone for p in self._planned() if p.spec.window}):
            scheduler.every_day(f"plan-{zone}", self.plan, PLAN_AT, zone)

    def resign(self, wait: bool) -> None:
        """Stops the scheduler (its jobs stay stored); with `wait`, once running attacks end."""
        global _live
        scheduler, self.scheduler = self.scheduler, None
        if _live is self:
            _live = None
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


def open_lease(db: Path, lease_s: float, lease_name: str | None) -> LeaderLease:
    """The journal's lease, or the Kubernetes Lease `lease_name` (NAMESPACE/NAME), for monkeys
    that share no journal (the replicas of deploy/kubernetes)."""
    if lease_name is None:
        return Lease(db, _holder_id(), duration_s=lease_s)
    from chaosmonkey.backends.kubernetes import KubeLease

    return KubeLease.connect(lease_name, _holder_id(), duration_s=lease_s)


@contextmanager
def leadership(engine: Engine, lease: LeaderLease, runs: Runs) -> Iterator[Leadership]:
    """Holds `lease` while it can, fences every change the engine makes with it, and runs the
    scheduler (`runs`) while leading.

    Tries once at once, then renews (or tries again) every third of the lease in a thread of its
    own. On exit the scheduler stops (running attacks end) and the lease is released, so that
    another monkey takes over without waiting.
    """
    engine.fence = lease.fence
    leader = Leadership(
        lease,
        on_acquired=partial(_revert_left_overs, engine),
        on_lead=runs.lead,
        on_lost=runs.resign,
    )
    leader.beat()
    keeper = threading.Thread(target=leader.keep, name="lease", daemon=True)
    keeper.start()
    try:
        yield leader
    finally:
        leader.done.set()
        keeper.join()
        runs.resign(wait=True)
        lease.release()
        log.info("leadership_released", holder=lease.holder_id)
        lease.close()


class Leadership:
    """A lease kept by beats; this monkey leads once the left-overs of its takeover are reverted.

    `on_lead` gets `leads` once this monkey leads; `on_lost(wait=False)` is called when it stops
    leading (the fence keeps a running attack from changing anything more)."""

    def __init__(
        self,
        lease: LeaderLease,
        on_acquired: Callable[[], None],
        on_lead: Callable[[Callable[[], bool]], None] = lambda leads: None,
        on_lost: Callable[[bool], None] = lambda wait: None,
    ) -> None:
        self.lease = lease
        self.done = threading.Event()
        self._on_acquired, self._on_lead, self._on_lost = on_acquired, on_lead, on_lost
        self._ready: int | None = None  # the token held, once `on_acquired` has run for it

    def leads(self) -> bool:
        """Whether scheduled runs may attack now (the database is asked)."""
        ready = self._ready
        return ready is not None and ready == self.lease.token and self.lease.is_leader()

    def keep(self) -> None:
        """Beats every third of the lease's duration until `done`."""
        while not self.done.wait(self.lease.duration_s / 3):
            try:
                self.beat()
            except ChaosMonkeyError as error:  # e.g. the right to the Lease was taken away
                log.error("lease_failed", holder=self.lease.holder_id, error=str(error))

    def beat(self) -> None:
        """Renews the lease, or tries to take it; logs any change and reacts to a takeover."""
        held = self._ready
        leads = (held is not None and self.lease.renew()) or self.lease.try_acquire()
        token = self.lease.token if leads else None
        if held is not None and token != held:
            self._ready = None
            log.warning("leadership_lost", holder=self.lease.holder_id, token=held)
            self._on_lost(False)
        if token is None:
            log.debug("not_leader", holder=self.lease.holder_id)  # standing by: no scheduler
        elif token != held:
            log.info("leadership_acquired", holder=self.lease.holder_id, token=token)
            self._on_acquired()
            self._ready = token
            self._start_leading()

    def _start_leading(self) -> None:
        """Starts leading; when that fails (the job table locked, say), lets the lease go so that
        another monkey, or this one at a later beat, tries again."""
        try:
            self._on_lead(self.leads)
        except ChaosMonkeyError as error:
            log.error("leading_failed", holder=self.lease.holder_id, error=str(error))
            self._ready = None
            self._on_lost(False)
            self.lease.release()


def _revert_left_overs(engine: Engine) -> None:
    """Reverts the faults a former leader (or a crash) left open, and closes its attacks."""
    for injection, result in engine.revert_open_faults():
        log.warning("left_over_fault_reverted", attack_id=injection.attack_id, result=str(result))


def _holder_id() -> str:
    """This process among the monkeys: host, pid, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
