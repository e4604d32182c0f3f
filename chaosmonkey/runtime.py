"""Wires the journal, the backends, the guards and the engine together for one command or the
daemon."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chaosmonkey.backends.base import Backend
from chaosmonkey.engine import Engine
from chaosmonkey.errors import ChaosMonkeyError
from chaosmonkey.guards.caps import Caps
from chaosmonkey.guards.conditions import StopConditionGuard, check_queries
from chaosmonkey.guards.halt import HaltGuard
from chaosmonkey.journal import Journal
from chaosmonkey.policy.models import Policy

REVERT_WAIT_S = 3.0  # how long `halt` lets running monkeys revert their own faults


def connect_backend(name: str) -> Backend:
    """The backend called `name`, connected; its SDK is imported only when it is used."""
    if name == "docker":
        from chaosmonkey.backends.docker import DockerBackend

        return DockerBackend.connect()
    if name == "kubernetes":
        from chaosmonkey.backends.kubernetes import KubernetesBackend

        return KubernetesBackend.connect()
    raise ChaosMonkeyError(f"spec.backend: {name!r} is not available; use docker or kubernetes")


@dataclass
class Runtime:
    journal: Journal
    engine: Engine = field(init=False)
    _backends: dict[str, Backend] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.engine = Engine(backend_for=self.backend, journal=self.journal)
        self.engine.caps = Caps(self.journal)
        self.engine.guards.append(HaltGuard(self.journal))
        self.engine.guards.append(StopConditionGuard())

    def backend(self, name: str) -> Backend:
        if name not in self._backends:
            self._backends[name] = connect_backend(name)
        return self._backends[name]

    def halt(self, reason: str) -> int:
        """Sets the kill switch, lets running attacks revert, then reverts whatever is still
        open (a monkey that died); returns how many faults this call reverted itself."""
        self.journal.halt(reason)
        deadline = time.monotonic() + REVERT_WAIT_S
        while self.journal.active_fault_counts() and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.engine.revert_open_faults())

    def check_policies(self, policies: list[Policy]) -> None:
        """Before any attack: PolicyErrors for the stop-condition queries Prometheus rejects."""
        check_queries(policies)

    @classmethod
    @contextmanager
    def open(cls, db: Path) -> Iterator[Runtime]:
        runtime = cls(Journal(db))
        try:
            yield runtime
        finally:
            for backend in runtime._backends.values():
                backend.close()
            runtime.journal.close()
