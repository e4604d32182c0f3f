"""`chaosmonkey run`: the scheduler and the exporter, until SIGTERM or SIGINT.

Four concerns, a module each: `leadership` (one leader among the monkeys, on the journal's lease
or a Kubernetes Lease, and the fence before every change), `runs` (the attack runs of a leading
monkey: its stored jobs and the daily plans), `upkeep` (faults whose revert failed tried again,
the journal's retention), and this module, which serves them with /metrics.
"""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from pathlib import Path
from types import FrameType

import structlog

from chaosmonkey.daemon.leadership import leadership, open_lease
from chaosmonkey.daemon.runs import Runs, run_planned, run_scheduled
from chaosmonkey.daemon.upkeep import Upkeep
from chaosmonkey.guards.caps import Caps
from chaosmonkey.metrics import Metrics
from chaosmonkey.policy.models import Policy
from chaosmonkey.runtime import Runtime
from chaosmonkey.scheduling.scheduler import DEFAULT_MISFIRE_GRACE

log = structlog.get_logger("chaosmonkey.daemon")

# Journals of 0.1 store the jobs' functions by these references: they must keep resolving.
__all__ = ["run_planned", "run_scheduled", "serve"]


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
    keep_days: int | None = None,
) -> None:
    """Runs the policies on their schedules and plans, and serves /metrics, until SIGTERM or
    SIGINT; running attacks are reverted before it returns. The leader is elected on the
    journal's lease, or on the Kubernetes Lease `lease_name` (NAMESPACE/NAME) when given.
    Faults whose revert failed are tried again every minute while leading; with `keep_days`,
    attacks that ended longer ago are deleted from the journal at start and once a day."""
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
            probed = policy.spec.recovery.probe is not None
            metrics.declare(policy.name, policy.spec.fault.type, policy.spec.backend, probed)
        server = metrics.serve(metrics_port, metrics_address)
        runs = Runs(policies, engine, db, metrics, misfire_grace)
        lease = open_lease(db, lease_s, lease_name)
        with runs, leadership(engine, lease, runs) as leader:
            upkeep = Upkeep(engine, leader.leads, keep_days)
            upkeeping = threading.Thread(
                target=upkeep.run, args=(stop,), name="upkeep", daemon=True
            )
            upkeeping.start()
            try:
                log.info(
                    "monkey_started",
                    policies=[policy.name for policy in policies],
                    armed=[policy.name for policy in policies if not policy.spec.dry_run],
                    metrics_port=server.port,
                )
                stop.wait()
            finally:
                stop.set()
                upkeeping.join()
        server.shutdown()
        log.info("monkey_stopped")
