"""A backend held in memory: the project's own boundary, for unit tests of the engine."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from chaosmonkey.errors import BackendError, TargetGone
from chaosmonkey.journal import Journal
from chaosmonkey.model import Injection, Observation, RevertResult, Target
from chaosmonkey.policy.models import Fault, Targets


@dataclass
class FakeWatch:
    """Impact right after apply; recovery `recover_after` seconds later, or never when None."""

    backend: FakeBackend
    recover_after: float | None

    def __enter__(self) -> FakeWatch:
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
        if impact is None or self.recover_after is None:
            time.sleep(max(0.0, min(deadline - time.time(), 0.05)))
            return Observation(impact, None)
        back = impact + self.recover_after
        time.sleep(max(0.0, min(back, deadline) - time.time()))
        return Observation(impact, back if back <= deadline else None)


@dataclass
class FakeBackend:
    targets: list[Target]
    journal: Journal | None = None
    recover_after: float | None = 0.05
    fail_apply: bool = False
    gone: set[str] = field(default_factory=set)
    name: str = "docker"
    applied: list[Injection] = field(default_factory=list)
    reverted: list[Injection] = field(default_factory=list)
    journal_state_at_apply: list[str] = field(default_factory=list)
    applied_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def list_targets(self, scope: Targets | None = None) -> list[Target]:
        return list(self.targets)

    def plan(self, attack_id: str, target: Target, fault: Fault) -> Injection:
        revert = {"pause": "unpause", "stop": "start"}.get(fault.type, "restore_network")
        revert = None if fault.type in {"kill", "restart"} else revert
        return Injection(attack_id, self.name, target, fault.type, {}, revert)

    def apply(self, injection: Injection) -> float:
        if self.journal is not None:  # what the journal held at the moment of the change
            faults = self.journal.open_faults()
            self.journal_state_at_apply.append(
                "recorded" if any(f.attack_id == injection.attack_id for f in faults) else "absent"
            )
        if self.fail_apply:
            raise BackendError("engine refused the call")
        with self.lock:
            self.applied.append(injection)
            self.applied_at = time.time()
        return self.applied_at

    def revert(self, injection: Injection) -> RevertResult:
        if injection.target.id in self.gone:
            return RevertResult.TARGET_GONE
        if not injection.reversible:
            return RevertResult.NOTHING_TO_REVERT
        if injection.target.id == "explodes":
            raise TargetGone("cannot reach it")
        self.reverted.append(injection)
        return RevertResult.REVERTED

    def watch(self, target: Target) -> FakeWatch:
        return FakeWatch(self, self.recover_after)

    def close(self) -> None:
        pass
