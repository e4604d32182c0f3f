"""`chaosmonkey run`: the scheduler and the exporter, until SIGTERM or SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import FrameType

import structlog

from chaosmonkey.caps import Caps
from chaosmonkey.engine import Engine
from chaosmonkey.errors import ChaosMonkeyError, NoTargets
from chaosmonkey.lease import Lease
from chaosmonkey.metrics import Metrics
from chaosmonkey.model import Outcome
from chaosmonkey.policy.models import Policy
from chaosmonkey.runtime import Runtime
from chaosmonkey.scheduling import start_scheduler

log = structlog.get_logger("chaosmonkey.daemon")


def serve(
    policies: list[Policy],
    db: Path,
    metrics_port: int,
    metrics_address: str,
    lease_s: float = 10.0,
    max_attacks_per_day: int | None = None,
    max_concurrent_faults: int | None = None,
) -> None:
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
        with leadership(engine, db, lease_s) as leader:
            _schedule_until(stop, policies, engine, server.port, leader.leads)
        server.shutdown()
        log.info("monkey_stopped")


def _schedule_until(
    stop: threading.Event,
    policies: list[Policy],
    engine: Engine,
    metrics_port: int,
    is_leader: Callable[[], bool],
) -> None:
    """Runs the policies on their schedules until `stop`, while this monkey leads; running
    attacks revert and end."""

    def job(policy: Policy) -> None:
        if not is_leader():
            log.debug("not_leader", policy=policy.name)
            return
        try:
            engine.run_policy(policy)
        except NoTargets as error:
            engine.record_unrun(policy, Outcome.SKIPPED, str(error))
        except ChaosMonkeyError as error:
            engine.record_unrun(policy, Outcome.FAILED, str(error))

    if stop.is_set():
        return
    scheduler = start_scheduler(policies, job)
    log.info(
        "monkey_started",
        policies=[policy.name for policy in policies],
        armed=[policy.name for policy in policies if not policy.spec.dry_run],
        metrics_port=metrics_port,
    )
    stop.wait()
    scheduler.shutdown(wait=True)


@contextmanager
def leadership(engine: Engine, db: Path, lease_s: float) -> Iterator[Leadership]:
    """Holds the journal's lease while it can, and fences every change the engine makes with it.

    Tries once at once, then renews (or tries again) every third of the lease in a thread of its
    own. On exit the lease is released, so that another monkey takes over without waiting.
    """
    lease = Lease(db, _holder_id(), duration_s=lease_s)
    engine.fence = lease.fence
    leader = Leadership(lease, on_acquired=partial(_revert_left_overs, engine))
    leader.beat()
    keeper = threading.Thread(target=leader.keep, name="lease", daemon=True)
    keeper.start()
    try:
        yield leader
    finally:
        leader.done.set()
        keeper.join()
        lease.release()
        log.info("leadership_released", holder=lease.holder_id)
        lease.close()


class Leadership:
    """A lease kept by beats; this monkey leads once the left-overs of its takeover are reverted."""

    def __init__(self, lease: Lease, on_acquired: Callable[[], None]) -> None:
        self.lease = lease
        self.done = threading.Event()
        self._on_acquired = on_acquired
        self._ready: int | None = None  # the token held, once `on_acquired` has run for it

    def leads(self) -> bool:
        """Whether scheduled runs may attack now (the database is asked)."""
        ready = self._ready
        return ready is not None and ready == self.lease.token and self.lease.is_leader()

    def keep(self) -> None:
        """Beats every third of the lease's duration until `done`."""
        while not self.done.wait(self.lease.duration_s / 3):
            self.beat()

    def beat(self) -> None:
        """Renews the lease, or tries to take it; logs any change and reacts to a takeover."""
        held = self._ready
        leads = (held is not None and self.lease.renew()) or self.lease.try_acquire()
        token = self.lease.token if leads else None
        if held is not None and token != held:
            self._ready = None
            log.warning("leadership_lost", holder=self.lease.holder_id, token=held)
        if token is not None and token != held:
            log.info("leadership_acquired", holder=self.lease.holder_id, token=token)
            self._on_acquired()
            self._ready = token


def _revert_left_overs(engine: Engine) -> None:
    """Reverts the faults a former leader (or a crash) left open, and closes its attacks."""
    for injection, result in engine.revert_open_faults():
        log.warning("left_over_fault_reverted", attack_id=injection.attack_id, result=str(result))


def _holder_id() -> str:
    """This process among the monkeys: host, pid, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
