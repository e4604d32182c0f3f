"""`chaosmonkey run` as a real process: scheduled attacks, metrics read back through a real
Prometheus, clean stop on SIGTERM, and faults left by a killed monkey reverted."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from chaosmonkey.scheduling.scheduler import RUNS_TABLE
from tests.conftest import StartPrometheus
from tests.integration.cli import records, run_cli, unique_app, write_policy
from tests.integration.conftest import Monkey, RunTarget, WaitFor, free_port, state
from tests.prometheus import values

pytestmark = pytest.mark.docker


def test_scheduled_attacks_are_counted_in_prometheus(
    tmp_path: Path, run_target: RunTarget, prometheus: StartPrometheus, monkeys: list[Monkey]
) -> None:
    """The daemon kills a container every 2 s; a real Prometheus scrapes the exporter and
    PromQL reads the recovered attacks back; SIGTERM stops the monkey with exit 0 and no fault
    left active."""
    app = unique_app()
    run_target(labels={"app": app}, restart="always")
    policies = tmp_path / "policies"
    policies.mkdir()
    write_policy(
        policies,
        app,
        {"type": "kill"},
        name="scheduled-kill",
        schedule={"interval": "2s"},
        recovery={"timeout": "10s"},
    )
    monkey = Monkey(policies, tmp_path / "j.db", free_port())
    monkeys.append(monkey)
    server = prometheus([f"127.0.0.1:{monkey.port}"])
    query = 'sum by (outcome) (chaosmonkey_attacks_total{policy="scheduled-kill"})'
    result = server.wait_for(query, lambda r: values(r, "outcome").get("recovered", 0) >= 2, 40)
    counts = values(result, "outcome")
    assert counts["not_recovered"] == 0
    assert counts["failed"] == 0
    assert monkey.stop() == 0, monkey.process.stderr.read() if monkey.process.stderr else ""
    history = records(run_cli("history", "--output", "json", db=tmp_path / "j.db"))
    assert len([r for r in history if r["status"] == "recovered"]) >= 2
    assert all(
        r["time_to_detect_seconds"] is not None for r in history if r["status"] == "recovered"
    )


def pause_for_an_hour(tmp_path: Path, app: str, name: str, every: str) -> Path:
    """A policy directory with one armed policy pausing app=`app` for an hour, `every` so often."""
    policies = tmp_path / "policies"
    policies.mkdir()
    fault = {"type": "pause", "duration": "1h"}
    write_policy(policies, app, fault, name=name, schedule={"interval": every})
    return policies


def test_sigterm_during_a_pause_reverts_it(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, monkeys: list[Monkey]
) -> None:
    """Stopped in the middle of a one-hour pause, the monkey unpauses the target, then exits."""
    app = unique_app()
    container = run_target(labels={"app": app})
    policies = pause_for_an_hour(tmp_path, app, "long-pause", every="1s")
    monkey = Monkey(policies, tmp_path / "j.db", free_port())
    monkeys.append(monkey)
    wait_for(lambda: state(container) == "paused", "the pause", 20)
    assert monkey.stop() == 0
    assert state(container) == "running"
    [record] = records(run_cli("history", "--output", "json", db=tmp_path / "j.db"))
    assert record["revert"] == "reverted"
    assert record["status"] == "failed"


@pytest.mark.parametrize("how", ["revert --all", "next start"])
def test_a_fault_left_by_a_killed_monkey_is_reverted(
    how: str, tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, monkeys: list[Monkey]
) -> None:
    """An attack killed with SIGKILL leaves the target paused; `revert --all` (or the daemon's
    next start) unpauses it within 5 s and closes the attack as interrupted."""
    app = unique_app()
    container = run_target(labels={"app": app})
    policies = pause_for_an_hour(tmp_path, app, "killed-pause", every="1h")
    db = tmp_path / "j.db"
    attack = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaosmonkey",
            "attack",
            "--db",
            str(db),
            "--policy",
            str(policies / "killed-pause.yaml"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: state(container) == "paused", "the pause", 20)
    attack.kill()
    attack.wait()
    time.sleep(0.5)
    assert state(container) == "paused"
    started = time.monotonic()
    if how == "revert --all":
        result = run_cli("revert", "--all", "--output", "json", db=db)
        assert result.returncode == 0, result.stderr
        assert [r["result"] for r in records(result)] == ["reverted"]
    else:
        monkeys.append(Monkey(policies, db, free_port()))
        wait_for(lambda: state(container) == "running", "the revert at start", 10)
    assert state(container) == "running"
    assert time.monotonic() - started < 5
    [record] = records(run_cli("history", "--output", "json", db=db))
    assert record["status"] == "failed"
    assert "interrupted" in record["reason"]


def test_the_monkeys_daily_cap_holds(
    tmp_path: Path, run_target: RunTarget, monkeys: list[Monkey]
) -> None:
    """With --max-attacks-per-day 2 and a run every second, two attacks happen; the runs after
    them are skipped with the cap as their reason."""
    app = unique_app()
    run_target(labels={"app": app}, restart="always")
    policies = tmp_path / "policies"
    policies.mkdir()
    write_policy(policies, app, {"type": "restart", "timeout": "1s"}, schedule={"interval": "1s"})
    db = tmp_path / "j.db"
    monkey = Monkey(policies, db, free_port(), "--max-attacks-per-day", "2")
    monkeys.append(monkey)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        history = records(run_cli("history", "--output", "json", db=db)) if db.exists() else []
        if sum(r["status"] == "skipped" for r in history) >= 2:
            break
    assert monkey.stop() == 0
    history = records(run_cli("history", "--output", "json", db=db))
    assert sum(r["status"] == "recovered" for r in history) == 2
    skipped = [r for r in history if r["status"] == "skipped"]
    assert len(skipped) >= 2
    assert {r["reason"] for r in skipped} == {"the monkey made its --max-attacks-per-day (2 of 2)"}


def test_a_restart_keeps_unchanged_jobs_and_drops_those_of_removed_policies(
    tmp_path: Path, monkeys: list[Monkey], wait_for: WaitFor
) -> None:
    """The jobs live in the journal: started again with one policy unchanged and one file
    removed, the monkey keeps the first job's stored next run and deletes the other job."""
    policies = tmp_path / "policies"
    policies.mkdir()
    hourly = {"type": "restart"}
    write_policy(policies, unique_app(), hourly, name="hourly", schedule={"interval": "1h"})
    nightly = write_policy(
        policies, unique_app(), hourly, name="nightly", schedule={"cron": "0 3 * * mon-fri"}
    )
    db = tmp_path / "j.db"

    def jobs() -> dict[str, float]:
        with sqlite3.connect(db) as journal:
            return dict(journal.execute(f"SELECT id, next_run_time FROM {RUNS_TABLE}").fetchall())

    def run_once() -> None:
        """Until the exporter answers (signals handled from then on), then SIGTERM: the jobs
        are reconciled at start, before the monkey waits for a stop."""
        monkey = Monkey(policies, db, free_port())
        monkeys.append(monkey)
        wait_for(lambda: exports(monkey.port), "the exporter", 20)
        code = monkey.stop()
        assert code == 0, monkey.process.stderr.read() if monkey.process.stderr else code

    run_once()
    first = jobs()
    nightly.unlink()
    run_once()

    assert sorted(first) == ["hourly", "nightly"]
    assert jobs() == {"hourly": first["hourly"]}


def exports(port: int) -> bool:
    """Whether a monkey's exporter answers on 127.0.0.1:`port`."""
    try:
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except requests.RequestException:
        return False
    return "chaosmonkey_build_info" in body
