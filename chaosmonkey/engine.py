"""An attack step by step: select, check limits, journal, inject, observe, revert, outcome.

Revert runs in `finally`: whatever happens after a fault is applied (an error, a halt, a signal),
a reversible fault is undone, and the journal says what was found. A revert that fails is tried
again with exponential back-off until the fault's own end plus a margin; a halt ends the waits.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from chaosmonkey.backends.base import Backend, RecoveryWatch
from chaosmonkey.durations import format_duration
from chaosmonkey.errors import ChaosMonkeyError, FaultRefused, NoImpact, NoTargets
from chaosmonkey.faults import Impact, Injection
from chaosmonkey.guards import Guard
from chaosmonkey.guards.caps import Caps
from chaosmonkey.guards.window import window_closed_reason
from chaosmonkey.journal import STILL_ACTIVE, Journal
from chaosmonkey.model import AttackRecord, Observation, Outcome, RevertResult, Status, Target
from chaosmonkey.policy.models import Policy
from chaosmonkey.recovery.applied import AppliedFaultWatch
from chaosmonkey.recovery.probes import ProbeWatch, describe
from chaosmonkey.selection import Refusal, Selection, choose, eligible

log = structlog.get_logger("chaosmonkey.engine")

NO_TARGET = Target(backend="", id="", name="", group="")
# The first sign of a fault (a die or pause event) comes within milliseconds; past this, none will.
IMPACT_GRACE_S = 10.0
CHECK_EVERY_S = 0.25  # how often a hold or a wait looks at the halt and the guards
INTERRUPTED = "interrupted: the monkey stopped during the attack; its fault was reverted"
# A failed revert is tried again after 0.5 s, 1 s, 2 s... (at most 30 s apart) until the fault's
# own end (its injection plus its hold) plus the margin; then it is left to the daemon's retries.
REVERT_FIRST_WAIT_S = 0.5
REVERT_MAX_WAIT_S = 30.0
REVERT_MARGIN_S = 120.0


class Timer(Protocol):
    """Wall-clock time for an attack's holds and waits (epoch seconds)."""

    def time(self) -> float: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Waits `seconds`, or less if `event` is set; whether it is set."""
        ...


class SystemTimer:
    def time(self) -> float:
        return time.time()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)


class Recorder(Protocol):
    """Where finished attacks and failed reverts are reported besides the journal (the metrics)."""

    def attack_finished(self, record: AttackRecord) -> None: ...

    def revert_failed(self, policy: str, fault: str, backend: str) -> None:
        """One try at reverting a fault of `policy` failed."""
        ...


class NoRecorder:
    def attack_finished(self, record: AttackRecord) -> None:
        pass

    def revert_failed(self, policy: str, fault: str, backend: str) -> None:
        pass


@dataclass
class Engine:
    """Runs policies against backends; one instance serves the CLI and the daemon."""

    backend_for: Callable[[str], Backend]
    journal: Journal
    recorder: Recorder = field(default_factory=NoRecorder)
    rng: random.Random = field(default_factory=random.Random)
    halted: threading.Event = field(default_factory=threading.Event)
    notify: Callable[[str], None] = lambda message: None
    guards: list[Guard] = field(default_factory=list)  # checked before a run, and during attacks
    fence: Callable[[], None] = lambda: None  # raises unless this monkey may change targets now
    caps: Caps | None = None  # attacks per day and faults at once, checked as a run is admitted
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # for windows and caps
    timer: Timer = field(default_factory=SystemTimer)  # for holds and waits
    # held from a run's draw to the journal record of its attacks, never during an attack; it
    # orders the runs of this process (across processes, only the lease holder attacks)
    _admission: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def refusal(self, policy: Policy) -> str | None:
        """The first guard's reason not to attack with `policy` now, or None."""
        return next((reason for guard in self.guards if (reason := guard(policy))), None)

    def select(self, policy: Policy, group: str | None = None) -> Selection:
        """The targets a run of `policy` would attack now, within `group` when given; raises
        NoTargets when none match."""
        everyone, candidates = self._candidates(policy, group, self.clock())
        return self._draw(policy, everyone, candidates)

    def _candidates(
        self, policy: Policy, group: str | None, now: datetime
    ) -> tuple[list[Target], list[Target]]:
        """Every target the backend lists for `policy`, and those it may attack."""
        backend = self.backend_for(policy.spec.backend)
        everyone = backend.list_targets(policy.spec.targets)
        candidates = eligible(everyone, policy.spec.targets, now.timestamp())
        if group is not None:
            candidates = [target for target in candidates if target.group == group]
        if not candidates:
            within = f" in group {group}" if group is not None else ""
            raise NoTargets(
                f"{policy.source}: spec.targets matches no running {backend.name} target{within}"
            )
        return everyone, candidates

    def _draw(self, policy: Policy, everyone: list[Target], candidates: list[Target]) -> Selection:
        """The random draw within the limits; a target with a fault in place (the journal says
        so, even when the backend cannot see it, as with a network fault) counts as down."""
        backend = policy.spec.backend
        under_fault = {f.target.id for f in self.journal.open_faults() if f.backend == backend}
        return choose(candidates, everyone, policy.spec.limits, self.rng, under_fault)

    def run_policy(
        self,
        policy: Policy,
        *,
        dry_run: bool | None = None,
        in_window_only: bool = True,
        group: str | None = None,
    ) -> list[AttackRecord]:
        """One run of a policy: every chosen target (of `group` only, when given) attacked at
        once, each observed to the end."""
        dry = policy.spec.dry_run if dry_run is None else dry_run
        now = self.clock()
        closed = window_closed_reason(policy.spec.window, now)
        if in_window_only and closed:
            return [self.record_unrun(policy, Outcome.SKIPPED, closed, dry_run=dry)]
        if refused := self.refusal(policy):
            return [self.record_unrun(policy, Outcome.SKIPPED, refused, dry_run=dry)]
        everyone, candidates = self._candidates(policy, group, now)
        with self._admission:
            admitted = self._admit(policy, everyone, candidates, dry, now)
        if isinstance(admitted, Refusal):
            reason, target = admitted.reason, admitted.target
            return [self.record_unrun(policy, Outcome.SKIPPED, reason, target, dry)]
        with ThreadPoolExecutor(max_workers=len(admitted)) as pool:
            runs = [pool.submit(self._carry_out, policy, *attack) for attack in admitted]
            return [run.result() for run in runs]

    def _admit(
        self,
        policy: Policy,
        everyone: list[Target],
        candidates: list[Target],
        dry_run: bool,
        now: datetime,
    ) -> list[tuple[AttackRecord, Injection]] | Refusal:
        """The draw, the caps and the journal record of every chosen attack, as one step under
        the admission lock: a run sees in the journal every attack admitted before it, so that
        runs at the same instant never overshoot a cap together. Returns the attacks to carry
        out (their faults recorded before any is applied), or why there are none."""
        selection = self._draw(policy, everyone, candidates)
        if not selection.chosen:
            return selection.refused[0]
        room = self.caps.room(policy, now) if self.caps else None
        if room is not None and room.left == 0:
            return Refusal(NO_TARGET, room.reason)
        chosen = selection.chosen[: room.left] if room else selection.chosen
        backend = self.backend_for(policy.spec.backend)
        admitted = []
        for target in chosen:  # every plan first: a plan that fails leaves nothing recorded
            record = _new_record(policy, target, dry_run, now)
            admitted.append((record, policy.spec.fault.injection(record.id, target, backend)))
        if not dry_run:  # dry runs change nothing, so count against no cap
            for record, injection in admitted:
                self.journal.record_attack(record, injection)
        return admitted

    def _carry_out(
        self, policy: Policy, record: AttackRecord, injection: Injection
    ) -> AttackRecord:
        """Injects an admitted attack's fault, observes the group, reverts, and finishes it."""
        with structlog.contextvars.bound_contextvars(attack_id=record.id, policy=policy.name):
            target = record.target.name
            if record.dry_run:
                log.info("attack_dry_run", target=target, action=injection.action)
                return self._finish(record, Outcome.DRY_RUN, "dry run: nothing was changed", True)
            log.info("attack_recorded", target=target, action=injection.action)
            backend = self.backend_for(policy.spec.backend)
            self._inject_and_observe(policy, backend, injection, record)
            return self._finish(record, record.outcome or Outcome.FAILED, record.reason, False)

    def _inject_and_observe(
        self, policy: Policy, backend: Backend, injection: Injection, record: AttackRecord
    ) -> None:
        reverted = False
        fault = policy.spec.fault
        hold = fault.held_for()
        applied = AppliedFaultWatch() if fault.impact is Impact.APPLIED else None
        try:
            with self._watch(policy, backend, injection.target, applied) as watch:
                self.fence()
                if not_now := self.journal.begin_apply(record.id):
                    raise FaultRefused(not_now)  # nothing was changed
                record.injected_at = injection.apply(backend)
                record.status = Status.INJECTED
                self.journal.mark_injected(record)
                log.info("fault_injected", target=injection.target.name, action=injection.action)
                if applied:
                    applied.applied(record.injected_at)
                if watch.wait_impact(record.injected_at + IMPACT_GRACE_S) is None:
                    raise NoImpact(f"no impact seen within {IMPACT_GRACE_S:g}s of the fault")
                if hold:
                    self._hold_then_revert(policy, injection, record, hold, applied)
                    reverted = True  # or failed for good: trying again would only wait longer
                deadline = record.injected_at + (hold or timedelta()).total_seconds()
                deadline += policy.spec.recovery.timeout.total_seconds()
                self.notify(f"waiting for {injection.target.group} to recover")
                observation = self._wait(policy, watch, deadline)
            _observed(record, observation)
            if record.revert_result is not RevertResult.FAILED:  # else failed, and said why
                record.outcome, record.reason = _judge(record, observation, policy, self.halted)
                if breach := self.refusal(policy):
                    record.outcome, record.reason = Outcome.ABORTED, breach
        except FaultRefused as error:  # the backend changed nothing: no attack took place
            record.outcome, record.reason = Outcome.SKIPPED, str(error)
            log.info("fault_refused", reason=str(error))
        except ChaosMonkeyError as error:
            record.outcome, record.reason = Outcome.FAILED, str(error)
            log.error("attack_failed", error=str(error))
        finally:
            if not reverted:
                self._revert(injection, record, hold)

    def _hold_then_revert(
        self,
        policy: Policy,
        injection: Injection,
        record: AttackRecord,
        hold: timedelta,
        applied: AppliedFaultWatch | None,
    ) -> None:
        """Keeps the fault for `hold` (less when halted or a guard objects), then reverts it."""
        target = injection.target.name
        self.notify(f"holding {injection.action} on {target} for {format_duration(hold)}")
        timer = self.timer
        until = timer.time() + hold.total_seconds()
        while not self._cut_short(policy) and timer.time() < until:
            timer.wait(self.halted, min(CHECK_EVERY_S, max(0.0, until - timer.time())))
        if self._revert(injection, record, hold) and applied:
            applied.reverted(timer.time())

    def _wait(self, policy: Policy, watch: RecoveryWatch, deadline: float) -> Observation:
        """Waits for recovery (the target back, and the service settled when probed) in short
        steps, so that a halt or a guard cuts the wait short."""
        while True:
            step = min(deadline, self.timer.time() + CHECK_EVERY_S)
            observation = watch.wait_recovered(step)
            if observation.complete or step >= deadline:
                return observation
            if self._cut_short(policy):
                return observation

    def _cut_short(self, policy: Policy) -> bool:
        return self.halted.is_set() or self.refusal(policy) is not None

    def _watch(
        self,
        policy: Policy,
        backend: Backend,
        target: Target,
        applied: AppliedFaultWatch | None,
    ) -> AbstractContextManager[RecoveryWatch]:
        watch: RecoveryWatch = applied or backend.watch(target)
        probe = policy.spec.recovery.probe
        return ProbeWatch(probe, watch) if probe else watch

    def _revert(self, injection: Injection, record: AttackRecord, hold: timedelta | None) -> bool:
        """Reverts the attack's fault, trying again until the fault's own end plus
        REVERT_MARGIN_S; when every try failed, the attack failed and its fault stays recorded
        as active (for the daemon's retries, `revert --all` or the next start)."""
        end = (record.injected_at or 0.0) + (hold or timedelta()).total_seconds()
        deadline = max(end, self.timer.time()) + REVERT_MARGIN_S
        try:
            result = self._revert_until(injection, _labels(record), deadline)
        except ChaosMonkeyError as error:
            log.error("revert_failed", target=injection.target.name, error=str(error))
            record.outcome, record.revert_result = Outcome.FAILED, RevertResult.FAILED
            record.reason = f"revert failed: {error}; {STILL_ACTIVE}"
            return False
        self.journal.mark_reverted(injection.attack_id, result)
        record.revert_result = result
        log.info("fault_reverted", target=injection.target.name, result=result.value)
        return True

    def _revert_until(
        self, injection: Injection, labels: tuple[str, str, str], deadline: float
    ) -> RevertResult:
        """Tries the revert, and after each failure waits (0.5 s, doubled each time, at most
        REVERT_MAX_WAIT_S) and tries again, until it succeeds (a gone target has nothing left to
        undo) or `deadline` (timer seconds) has passed; raises the last failure. A halt ends the
        wait at once: one last try, then none."""
        wait = REVERT_FIRST_WAIT_S
        while True:
            try:
                return self._revert_once(injection, labels)
            except ChaosMonkeyError:
                left = deadline - self.timer.time()
                if self.halted.is_set() or left <= 0:
                    raise
            log.info("revert_retry", target=injection.target.name, in_s=min(wait, left))
            self.timer.wait(self.halted, min(wait, left))
            wait = min(wait * 2, REVERT_MAX_WAIT_S)

    def _revert_once(self, injection: Injection, labels: tuple[str, str, str]) -> RevertResult:
        """One try; a failure is counted (by the attack's policy, fault and backend) and
        raised."""
        try:
            return injection.revert(self.backend_for(injection.backend))
        except ChaosMonkeyError as error:
            self.recorder.revert_failed(*labels)
            log.warning("revert_try_failed", target=injection.target.name, error=str(error))
            raise

    def record_unrun(
        self,
        policy: Policy,
        outcome: Outcome,
        reason: str,
        target: Target = NO_TARGET,
        dry_run: bool | None = None,
    ) -> AttackRecord:
        """Records a run that attacked nothing (skipped by a guard, or failed before any fault)."""
        dry = policy.spec.dry_run if dry_run is None else dry_run
        record = _new_record(policy, target, dry, self.clock())
        with structlog.contextvars.bound_contextvars(attack_id=record.id, policy=policy.name):
            log.info("attack_not_run", outcome=outcome.value, reason=reason)
            return self._finish(record, outcome, reason, True)

    def _finish(
        self, record: AttackRecord, outcome: Outcome, reason: str | None, new: bool
    ) -> AttackRecord:
        record.outcome, record.reason = outcome, reason
        record.status, record.ended_at = Status.DONE, self.timer.time()
        if new:
            self.journal.record_attack(record)
        self.journal.finish(record)
        self.recorder.attack_finished(record)
        log.info(
            "attack_finished",
            outcome=outcome.value,
            target=record.target.name,
            recovery_seconds=record.recovery_seconds,
            time_to_detect_seconds=record.time_to_detect_seconds,
            reason=reason,
        )
        return record

    def revert_open_faults(
        self, every_unfinished: bool = False
    ) -> list[tuple[Injection, RevertResult | str]]:
        """Undoes every fault the journal holds as possibly applied (after a crash, or on demand)
        and closes the attacks whose faults it reverted: no process carries them out any more.
        With `every_unfinished` (a new leader taking over), every attack not finished is closed
        too; without it, an attack whose process reverted its own fault is left to that process
        to finish."""
        results = self._revert_each(
            (self._labels_of(injection), injection) for injection in self.journal.open_faults()
        )
        reverted = {inj.attack_id for inj, result in results if isinstance(result, RevertResult)}
        for record in self.journal.unfinished_attacks():
            if every_unfinished or record.id in reverted:
                record.outcome, record.ended_at = Outcome.FAILED, self.timer.time()
                record.reason = INTERRUPTED
                self.journal.finish(record)
        return results

    def retry_failed_reverts(self) -> list[tuple[Injection, RevertResult | str]]:
        """One more try at each fault left in place by an attack that ended (every try of its
        revert failed), as the daemon makes on a timer; each failure is counted."""
        return self._revert_each(
            (_labels(record), injection) for record, injection in self.journal.faults_left_open()
        )

    def _revert_each(
        self, faults: Iterable[tuple[tuple[str, str, str], Injection]]
    ) -> list[tuple[Injection, RevertResult | str]]:
        """One try at each fault, recorded reverted in the journal when it succeeds; the result
        of each, or why it failed."""
        results: list[tuple[Injection, RevertResult | str]] = []
        for labels, injection in faults:
            with structlog.contextvars.bound_contextvars(attack_id=injection.attack_id):
                try:
                    result = self._revert_once(injection, labels)
                except ChaosMonkeyError as error:
                    log.error("revert_failed", error=str(error))
                    results.append((injection, f"failed: {error}"))
                    continue
                self.journal.mark_reverted(injection.attack_id, result)
                log.info("fault_reverted", result=result.value)
                results.append((injection, result))
        return results

    def _labels_of(self, injection: Injection) -> tuple[str, str, str]:
        """The policy, fault and backend of the attack that recorded `injection`."""
        record = self.journal.attack(injection.attack_id)
        return _labels(record) if record else ("", "", injection.backend)


def _labels(record: AttackRecord) -> tuple[str, str, str]:
    return record.policy, record.fault, record.backend


def _new_record(policy: Policy, target: Target, dry_run: bool, now: datetime) -> AttackRecord:
    return AttackRecord(
        id=uuid.uuid4().hex[:16],
        policy=policy.name,
        backend=policy.spec.backend,
        fault=policy.spec.fault.type,
        target=target,
        dry_run=dry_run,
        created_at=now.timestamp(),
    )


def _observed(record: AttackRecord, observation: Observation) -> None:
    """The target's recovery and the service's into the record; the attack is judged by the
    service's when the policy probes it, else by the target's."""
    record.target_detected_at = observation.impact_at
    record.target_recovered_at = observation.recovered_at
    record.service = service = observation.service
    if service is None:
        record.detected_at, record.recovered_at = observation.impact_at, observation.recovered_at
    else:
        record.detected_at, record.recovered_at = service.detected_at, service.recovered_at


def _judge(
    record: AttackRecord, observation: Observation, policy: Policy, halted: threading.Event
) -> tuple[Outcome, str | None]:
    """Recovered once the target is back and, when probed, the service too."""
    timeout = format_duration(policy.spec.recovery.timeout)
    if halted.is_set():
        return Outcome.FAILED, INTERRUPTED
    if observation.complete:
        return Outcome.RECOVERED, None
    if observation.recovered_at is None:
        return (
            Outcome.NOT_RECOVERED,
            f"{record.target.group} not back within recovery.timeout {timeout}",
        )
    return (
        Outcome.NOT_RECOVERED,
        f"the service ({describe(policy.spec.recovery.probe)}) not answering as expected "
        f"within recovery.timeout {timeout}",
    )
