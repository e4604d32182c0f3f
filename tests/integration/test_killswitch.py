"""The kill switch on real containers: `halt` reverts a running attack within 5 s, holds across
a restart of the monkey, and `resume` lets attacks start again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.cli import records, run_cli, unique_app, write_policy
from tests.integration.conftest import Monkey, RunTarget, WaitFor, free_port, state

pytestmark = pytest.mark.docker


@pytest.mark.timing
def test_halt_reverts_holds_across_restarts_and_resume_lifts_it(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, monkeys: list[Monkey]
) -> None:
    """A daemon holds a one-hour pause; `halt` unpauses within 5 s and records it aborted;
    a new daemon on the same journal attacks nothing while halted; after `resume` it does."""
    app = unique_app()
    container = run_target(labels={"app": app})
    policies = tmp_path / "policies"
    policies.mkdir()
    fault = {"type": "pause", "duration": "1h"}
    write_policy(policies, app, fault, name="long-pause", schedule={"interval": "1s"})
    db = tmp_path / "j.db"
    first = Monkey(policies, db, free_port())
    monkeys.append(first)
    wait_for(lambda: state(container) == "paused", "the pause", 20)

    started = time.monotonic()
    result = run_cli("halt", "--reason", "incident 42", db=db)
    assert result.returncode == 0, result.stderr
    assert state(container) == "running"
    assert time.monotonic() - started < 5
    status = records(run_cli("status", "--output", "json", db=db))
    assert status == {"state": "halted", "halt_reason": "incident 42", "next_runs": [],
                      "active_faults": []}  # fmt: skip
    time.sleep(2.5)  # scheduled runs come and are skipped
    first.stop()
    second = Monkey(policies, db, free_port())
    monkeys.append(second)
    time.sleep(2.5)
    assert state(container) == "running"
    history = records(run_cli("history", "--output", "json", db=db))
    aborted = [r for r in history if r["status"] == "aborted"]
    assert len(aborted) == 1
    assert aborted[0]["reason"] == "halted: incident 42"
    assert aborted[0]["revert"] == "reverted"
    skipped = [r for r in history if r["status"] == "skipped"]
    assert skipped
    assert all(r["reason"] == "halted: incident 42" for r in skipped)

    assert run_cli("resume", db=db).stdout.strip() == "resumed"
    wait_for(lambda: state(container) == "paused", "an attack after resume", 10)
    second.stop()
    assert state(container) == "running"


def test_halt_reverts_faults_of_a_dead_monkey(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, monkeys: list[Monkey]
) -> None:
    """With no monkey alive to revert it, `halt` reverts the open fault itself."""
    app = unique_app()
    container = run_target(labels={"app": app})
    policies = tmp_path / "policies"
    policies.mkdir()
    write_policy(policies, app, {"type": "pause", "duration": "1h"}, schedule={"interval": "1s"})
    db = tmp_path / "j.db"
    monkey = Monkey(policies, db, free_port())
    monkeys.append(monkey)
    wait_for(lambda: state(container) == "paused", "the pause", 20)
    monkey.process.kill()
    monkey.process.wait()
    result = run_cli("halt", db=db)
    assert result.returncode == 0, result.stderr
    assert "1 fault(s) reverted here, 0 active" in result.stdout
    assert state(container) == "running"
