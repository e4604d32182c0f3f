"""`chaosmonkey run` as a real process running a stored Chaos Monkey mode plan against real
containers: the planned group is attacked once, at its time, and its row marked done; a planned
time already past is counted in /metrics as missed and never run; a restart keeps the plan."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from chaosmonkey import __version__
from chaosmonkey.journal import Journal
from chaosmonkey.scheduling.planning import PlannedRun, PlanStore
from chaosmonkey.scheduling.scheduler import RUNS_TABLE
from tests.integration.cli import records, run_cli, unique_app, write_policy
from tests.integration.conftest import Monkey, RunTarget, WaitFor, free_port, started_at

pytestmark = pytest.mark.docker

GROUP_LABEL = "chaosmonkey.io/group"
ALL_DAY = {"timezone": "UTC", "start": "00:00", "end": "23:59:59"}
POLICY = "monkey"


def plan(policies: Path, db: Path) -> list[dict[str, Any]]:
    """Today's plan as `chaosmonkey plan --output json` prints it (the stored one)."""
    return records(run_cli("plan", "--policies", str(policies), "--output", "json", db=db))


def metric(port: int, name: str, **labels: str) -> float | None:
    """One sample of the monkey's /metrics, scraped over HTTP on 127.0.0.1; None while the
    exporter does not answer yet."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.ConnectionError:
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def stored_jobs(db: Path) -> dict[str, float]:
    """The scheduler's job table: {job id: next run time}."""
    with sqlite3.connect(db) as journal:
        return dict(journal.execute(f"SELECT id, next_run_time FROM {RUNS_TABLE}").fetchall())


def stop_and_read(monkey: Monkey) -> list[dict[str, Any]]:
    """Stops the monkey (SIGTERM, exit 0) and returns its JSON log lines."""
    assert monkey.stop() == 0
    assert monkey.process.stderr is not None
    lines = [line for line in monkey.process.stderr.read().splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines]


def test_a_stored_plan_is_run_at_its_time_and_a_missed_time_is_counted(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, monkeys: list[Monkey]
) -> None:
    """Seeded plan: `api` a few seconds ahead, `web` five minutes ago, `db` in two hours. The
    monkey kills the api container once, not before its time, and marks the row done; the web
    row is skipped as missed and chaosmonkey_runs_missed_total says 1; the web container is
    untouched. Started again, the monkey keeps the plan and the db row's stored job as they were,
    and attacks or misses nothing more."""
    app = unique_app()
    api, web, db_group = f"{app}-api", f"{app}-web", f"{app}-db"
    api_container = run_target(labels={"app": app, GROUP_LABEL: api}, restart="always")
    web_container = run_target(labels={"app": app, GROUP_LABEL: web}, restart="always")
    before = {name: started_at(c) for name, c in ((api, api_container), (web, web_container))}
    policies = tmp_path / "policies"
    policies.mkdir()
    schedule = {"meanTimeBetweenAttacks": "1d"}
    limits = {"allowLastMember": True}
    write_policy(
        policies, app, {"type": "kill"}, POLICY, schedule=schedule, window=ALL_DAY, limits=limits
    )
    db = tmp_path / "j.db"
    Journal(db).close()
    now = datetime.now(UTC).replace(microsecond=0)
    api_at = now + timedelta(seconds=6)
    rows = [
        PlannedRun(api, api_at),
        PlannedRun(web, now - timedelta(minutes=5)),
        PlannedRun(db_group, now + timedelta(hours=2)),
    ]
    with PlanStore(db) as store:
        store.save(POLICY, now.date(), rows)

    monkey = Monkey(policies, db, free_port())
    monkeys.append(monkey)
    wait_for(lambda: started_at(api_container) != before[api], "the api container killed", 40)
    wait_for(
        lambda: {e["group"]: e["status"] for e in plan(policies, db)}.get(api) == "done",
        "the api row marked done",
        30,
    )
    missed = metric(monkey.port, "chaosmonkey_runs_missed_total", policy=POLICY)
    first_log = stop_and_read(monkey)

    assert missed == 1
    assert started_at(web_container) == before[web]
    [attack] = records(run_cli("history", "--output", "json", db=db))
    assert (attack["policy"], attack["target"]["group"]) == (POLICY, api)
    assert attack["created_at"] >= api_at.timestamp()
    stored_plan = plan(policies, db)
    by_group = {entry["group"]: entry for entry in stored_plan}
    assert by_group[web]["status"] == "skipped"
    assert by_group[web]["reason"].startswith("missed: due")
    assert by_group[db_group]["status"] == "planned"
    [warning] = [line for line in first_log if line["event"] == "run_missed"]
    assert (warning["policy"], warning["group"], warning["level"]) == (POLICY, web, "warning")
    jobs = stored_jobs(db)
    assert list(jobs) == [f"{POLICY}/{now.date().isoformat()}/{db_group}"]

    again = Monkey(policies, db, free_port())
    monkeys.append(again)
    wait_for(lambda: metric(again.port, "chaosmonkey_build_info", version=__version__) == 1, "up")
    second_log = stop_and_read(again)

    assert plan(policies, db) == stored_plan
    assert stored_jobs(db) == jobs
    [reconciled] = [line for line in second_log if line["event"] == "scheduled_runs_reconciled"]
    assert reconciled["kept"] == list(jobs)
    assert "added" not in reconciled
    assert not [line for line in second_log if line["event"] == "run_missed"]
    assert len(records(run_cli("history", "--output", "json", db=db))) == 1
