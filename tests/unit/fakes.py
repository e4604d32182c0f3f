"""A backend held in memory: the project's own boundary (the `Backend` protocol and the operations
faults ask of it), for unit tests of the engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import structlog

from chaosmonkey.errors import BackendError, TargetGone
from chaosmonkey.faults.network import NetworkPlan, Placement
from chaosmonkey.journal import Journal
from chaosmonkey.model import Observation, RevertResult, Target
from chaosmonkey.netfaults.destinations import Destination, check_destination
from chaosmonkey.policy.models import Targets


@dataclass(frozen=True)
class Change:
    """One call a fault made: `action` is the operation (or the network fault's type), and the
    attack the engine was carrying out then."""

    action: str
    target: Target
    attack_id: str | None


class FakeTimer:
    """Virtual wall-clock time for the engine's holds and waits: a wait moves it on at once,
    unless its event is set, so that no test waits for real."""

    def __init__(self) -> None:
        self._now = time.time()
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if not event.is_set():
            self.advance_to(self.time() + seconds)
        return event.is_set()

    def advance_to(self, moment: float) -> None:
        with self._lock:
            self._now = max(self._now, moment)


@dataclass
class FakeWatch:
    """Impact right after apply; recovery `recover_after` seconds later, or never when None.
    Waiting moves the backend's virtual time on to the deadline."""

    backend: FakeBackend
    recover_after: float | None

    def __enter__(self) -> FakeWatch:
        if self.backend.on_watch is not None:  # the watch opens right before the fault
            self.backend.on_watch()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    def wait_impact(self, deadline: float) -> float | None:
        return self.backend.applied_at

    def wait_recovered(self, deadline: float) -> Observation:
        impact = self.backend.applied_at
        back = None if impact is None or self.recover_after is None else impact + self.recover_after
        if back is not None and back <= deadline:
            self.backend.timer.advance_to(back)
            return Observation(impact, back)
        self.backend.timer.advance_to(deadline)
        return Observation(impact, None)


@dataclass
class FakeBackend:
    """Offers every operation (containers, pods, networks); records each call. `on_apply`,
    `on_place` and `on_watch`, when set, are called first (to fail, or to look at the journal
    or change it then)."""

    targets: list[Target]
    journal: Journal | None = None
    recover_after: float | None = 0.05
    fail_apply: bool = False
    gone: set[str] = field(default_factory=set)
    name: str = "docker"
    applied: list[Change] = field(default_factory=list)
    reverted: list[Change] = field(default_factory=list)
    journal_state_at_apply: list[str] = field(default_factory=list)
    applied_at: float | None = None
    on_apply: Callable[[Change], None] | None = None
    on_place: Callable[[Target], None] | None = None
    on_watch: Callable[[], None] | None = None
    timer: FakeTimer = field(default_factory=FakeTimer)  # give the engine the same one
    lock: threading.Lock = field(default_factory=threading.Lock)

    def list_targets(self, scope: Targets | None = None) -> list[Target]:
        return list(self.targets)

    def watch(self, target: Target) -> FakeWatch:
        return FakeWatch(self, self.recover_after)

    def close(self) -> None:
        pass

    # --- every operation: a change recorded, or its undoing ---

    def crash(self, target: Target, signal: str) -> float:
        return self._apply("crash", target)

    def kill(self, target: Target, signal: str) -> float:
        return self._apply("kill", target)

    def stop(self, target: Target, timeout_s: float) -> float:
        return self._apply("stop", target)

    def restart(self, target: Target, timeout_s: float) -> float:
        return self._apply("restart", target)

    def pause(self, target: Target) -> float:
        return self._apply("pause", target)

    def delete(self, target: Target, grace_period_s: int) -> float:
        return self._apply("delete", target)

    def evict(self, target: Target, grace_period_s: int | None) -> float:
        return self._apply("evict", target)

    def start(self, target: Target) -> RevertResult:
        return self._revert("start", target)

    def unpause(self, target: Target) -> RevertResult:
        return self._revert("unpause", target)

    def place(self, target: Target, allow_host_network: bool) -> Placement | None:
        if self.on_place is not None:
            self.on_place(target)
        return None

    def resolve(self, destinations: list[str]) -> list[Destination]:
        """Addresses as they are; every name is one container at 10.9.0.1."""
        specs = [check_destination(text) for text in destinations]
        return [Destination(spec.cidr or "10.9.0.1/32", spec.port) for spec in specs]

    def hold(self, target: Target, plan: NetworkPlan) -> float:
        return self._apply(plan.fault.type, target)

    def release(
        self, target: Target, tag: str, placement: Placement | None, fault: str
    ) -> RevertResult:
        return self._revert(fault, target)

    def _apply(self, action: str, target: Target) -> float:
        change = Change(action, target, _attack_id())
        if self.journal is not None:  # what the journal held at the moment of the change
            recorded = any(f.attack_id == change.attack_id for f in self.journal.open_faults())
            self.journal_state_at_apply.append("recorded" if recorded else "absent")
        if self.on_apply is not None:
            self.on_apply(change)
        if self.fail_apply:
            raise BackendError("engine refused the call")
        with self.lock:
            self.applied.append(change)
            self.applied_at = self.timer.time()
        return self.applied_at

    def _revert(self, action: str, target: Target) -> RevertResult:
        if target.id in self.gone:
            raise TargetGone(f"{target.name} is gone")
        if target.id == "explodes":
            raise BackendError("cannot reach it")
        self.reverted.append(Change(action, target, _attack_id()))
        return RevertResult.REVERTED


def _attack_id() -> str | None:
    """The attack the engine binds to the log context while it carries one out."""
    return structlog.contextvars.get_contextvars().get("attack_id")
