"""`chaosmonkey plan` on real containers: today's Chaos Monkey plan is drawn once, stored in the
journal, and printed the same by every later call that day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.cli import records, run_cli, unique_app, write_policy
from tests.integration.conftest import RunTarget

pytestmark = pytest.mark.docker

GROUP_LABEL = "chaosmonkey.io/group"
ALL_DAY = {"timezone": "UTC", "start": "00:00", "end": "23:59:59"}


def test_plan_is_stored_and_printed_identically_the_same_day(
    tmp_path: Path, run_target: RunTarget
) -> None:
    """Mean 1d attacks every eligible group today, at a time inside the window; a policy whose
    window blacks out today leaves its group out with the reason; a second call prints the
    identical plan, as table and as JSON."""
    app, quiet = unique_app(), unique_app()
    for group in ("api", "api", "web"):
        run_target(labels={"app": app, GROUP_LABEL: f"{app}-{group}"})
    run_target(labels={"app": quiet, GROUP_LABEL: f"{quiet}-db"})
    policies = tmp_path / "policies"
    policies.mkdir()
    kill = {"type": "kill"}
    schedule = {"meanTimeBetweenAttacks": "1d", "minTimeBetweenAttacks": "1d"}
    write_policy(policies, app, kill, name="monkey", schedule=schedule, window=ALL_DAY)
    today = datetime.now(UTC).date().isoformat()
    blackout = {**ALL_DAY, "blackout": [today]}
    write_policy(policies, quiet, kill, name="quiet", schedule=schedule, window=blackout)
    write_policy(policies, app, kill, name="timetable", schedule={"interval": "1h"})
    db = tmp_path / "j.db"

    first = records(run_cli("plan", "--policies", str(policies), "--output", "json", db=db))
    table = run_cli("plan", "--policies", str(policies), db=db)
    second = records(run_cli("plan", "--policies", str(policies), "--output", "json", db=db))
    table_again = run_cli("plan", "--policies", str(policies), db=db)

    assert second == first
    assert table.returncode == 0, table.stderr
    assert table_again.stdout == table.stdout
    planned = {entry["group"]: entry for entry in first if entry["policy"] == "monkey"}
    assert sorted(planned) == [f"{app}-api", f"{app}-web"]
    for entry in planned.values():
        assert entry["status"] == "planned"
        assert entry["day"] == today
        assert datetime.fromisoformat(entry["at"]).date().isoformat() == today
    [left_out] = [entry for entry in first if entry["policy"] == "quiet"]
    assert left_out["status"] == "skipped"
    assert left_out["reason"] == f"not a working day: {today} is a blackout day"
    assert f"left out: not a working day: {today} is a blackout day" in table.stdout
    assert "timetable" not in table.stdout

    status = records(run_cli("status", "--policies", str(policies), "--output", "json", db=db))
    shown = {run["group"]: run for run in status["next_runs"] if run.get("group")}
    assert {group: run["at"] for group, run in shown.items()} == {
        group: entry["at"] for group, entry in planned.items()
    }
    assert all(run["policy"] == "monkey" for run in shown.values())
