"""`chaosmonkey run`: the scheduler and the exporter, until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import structlog

from chaosmonkey.engine import Engine
from chaosmonkey.errors import ChaosMonkeyError, NoTargets
from chaosmonkey.metrics import Metrics
from chaosmonkey.model import Outcome
from chaosmonkey.policy.models import Policy
from chaosmonkey.runtime import Runtime
from chaosmonkey.scheduling import start_scheduler

log = structlog.get_logger("chaosmonkey.daemon")


def serve(policies: list[Policy], db: Path, metrics_port: int, metrics_address: str) -> None:
    stop = threading.Event()
    with Runtime.open(db) as runtime:
        engine = runtime.engine

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
        for injection, result in engine.revert_open_faults():
            log.warning(
                "left_over_fault_reverted", attack_id=injection.attack_id, result=str(result)
            )
        _schedule_until(stop, policies, engine, server.port)
        server.shutdown()
        log.info("monkey_stopped")


def _schedule_until(
    stop: threading.Event, policies: list[Policy], engine: Engine, metrics_port: int
) -> None:
    """Runs the policies on their schedules until `stop`; running attacks revert and end."""

    def job(policy: Policy) -> None:
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
