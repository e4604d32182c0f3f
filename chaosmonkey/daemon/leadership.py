"""One leader among the monkeys: the lease kept by beats, the fence before every change, and the
scheduler run only while leading.

The lease is the journal's (monkeys on one host's journal) or a Kubernetes Lease (monkeys that
share no journal, such as the replicas of deploy/kubernetes); both give a fencing token.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Protocol

import structlog

from chaosmonkey.daemon.runs import Runs
from chaosmonkey.engine import Engine
from chaosmonkey.errors import ChaosMonkeyError
from chaosmonkey.journal.lease import Lease

log = structlog.get_logger("chaosmonkey.daemon.leadership")


class LeaderLease(Protocol):
    """What the daemon needs of a lease: the journal's (`Lease`) or a Kubernetes Lease."""

    holder_id: str
    duration_s: float
    token: int | None

    def try_acquire(self) -> bool: ...
    def renew(self) -> bool: ...
    def release(self) -> None: ...
    def is_leader(self) -> bool: ...
    def fence(self) -> None: ...
    def close(self) -> None: ...


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
    for injection, result in engine.revert_open_faults(every_unfinished=True):
        log.warning("left_over_fault_reverted", attack_id=injection.attack_id, result=str(result))


def _holder_id() -> str:
    """This process among the monkeys: host, pid, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
