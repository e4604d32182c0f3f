"""`chaosmonkey attack` end to end against real containers on the real engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from docker.models.containers import Container

from tests.integration.cli import records, run_cli, unique_app, write_policy
from tests.integration.conftest import RunTarget, started_at

pytestmark = pytest.mark.docker


@pytest.mark.timing
def test_crash_kill_is_recovered_and_measured(
    tmp_path: Path, run_target: RunTarget, health_check: Callable[..., dict[str, Any]]
) -> None:
    """A crash kill of a container that takes 1.5 s to serve again: the restart policy brings it
    back, and the recovery measured (to healthy) lies between 1.5 s and 1.5 s plus the engine's
    restart and two health check intervals."""
    app = unique_app()
    container = run_target(
        labels={"app": app},
        restart="always",
        healthcheck=health_check(interval_s=0.1),
        env={"START_DELAY": "1.5"},
    )
    policy = write_policy(tmp_path, app, {"type": "kill"})
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=tmp_path / "j.db")
    assert result.returncode == 0, result.stderr
    [record] = records(result)
    assert record["status"] == "recovered"
    assert record["recovered"] is True
    assert record["target"] == {"id": container.id, "name": container.name, "group": container.name}
    assert record["fault"] == "kill"
    assert record["policy"] == "test-policy"
    assert 1.5 <= record["recovery_seconds"] <= 3.0
    assert 0 <= record["time_to_detect_seconds"] <= 0.5
    container.reload()
    assert container.attrs["RestartCount"] == 1


def test_every_log_line_of_an_attack_carries_its_id(tmp_path: Path, run_target: RunTarget) -> None:
    """Logs are JSON lines off a terminal, and each line of the attack has its attack id."""
    app = unique_app()
    run_target(labels={"app": app}, restart="always")
    policy = write_policy(tmp_path, app, {"type": "kill"})
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=tmp_path / "j.db")
    [record] = records(result)
    import json

    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"attack_recorded", "fault_injected", "attack_finished"} <= events
    assert all(line["attack_id"] == record["id"] for line in lines if "attack_id" in line)
    assert sum("attack_id" in line for line in lines) >= 4


def test_api_kill_is_a_manual_stop_that_does_not_recover(
    tmp_path: Path, run_target: RunTarget
) -> None:
    """Killed through the engine's API, a container with restart=always stays down: the outcome
    is not_recovered and the command exits 6, a finding."""
    app = unique_app()
    container = run_target(labels={"app": app}, restart="always")
    policy = write_policy(
        tmp_path, app, {"type": "kill", "method": "api"}, recovery={"timeout": "2s"}
    )
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=tmp_path / "j.db")
    assert result.returncode == 6, result.stderr
    [record] = records(result)
    assert record["status"] == "not_recovered"
    assert record["recovery_seconds"] is None
    container.reload()
    assert container.status == "exited"


def test_dry_run_changes_nothing(tmp_path: Path, run_target: RunTarget) -> None:
    """`--dry-run` on an armed policy records dry_run and leaves the container untouched."""
    app = unique_app()
    container = run_target(labels={"app": app})
    before = started_at(container)
    policy = write_policy(tmp_path, app, {"type": "kill"})
    result = run_cli(
        "attack", "--policy", str(policy), "--dry-run", "--output", "json", db=tmp_path / "j.db"
    )
    assert result.returncode == 0, result.stderr
    assert records(result)[0]["status"] == "dry_run"
    assert started_at(container) == before
    assert container.status == "running"


def test_protected_and_excluded_containers_are_never_attacked(
    tmp_path: Path, run_target: RunTarget
) -> None:
    """With only a protected and an excluded container matching, nothing is attacked: exit 4 and
    one line naming the policy."""
    app = unique_app()
    guarded = run_target(labels={"app": app, "chaosmonkey.io/protected": "true"})
    database = run_target(labels={"app": app, "tier": "db"})
    before = [started_at(guarded), started_at(database)]
    policy = write_policy(
        tmp_path,
        app,
        {"type": "kill"},
        targets={"labels": {"app": app}, "exclude": {"labels": {"tier": "db"}}},
    )
    result = run_cli("attack", "--policy", str(policy), db=tmp_path / "j.db")
    assert result.returncode == 4
    assert result.stderr.strip() == (f"{policy}:1: spec.targets matches no running docker target")
    assert [started_at(guarded), started_at(database)] == before


def test_members_already_down_count_against_max_unavailable(
    tmp_path: Path, run_target: RunTarget
) -> None:
    """In a group of two with one member stopped, maxUnavailable 1 forbids the attack: skipped."""
    app = unique_app()
    group = {"app": app, "chaosmonkey.io/group": app}
    up = run_target(labels=group)
    down = run_target(labels=group)
    down.stop(timeout=0)
    before = started_at(up)
    policy = write_policy(tmp_path, app, {"type": "kill"})
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=tmp_path / "j.db")
    assert result.returncode == 0, result.stderr
    [record] = records(result)
    assert record["status"] == "skipped"
    assert "1 of 2 members unavailable" in record["reason"]
    assert started_at(up) == before


def test_max_targets_attacks_that_many(tmp_path: Path, run_target: RunTarget) -> None:
    """maxTargets 2 over three containers in three groups attacks exactly two of them."""
    app = unique_app()
    for _ in range(3):
        run_target(labels={"app": app}, restart="always")
    policy = write_policy(
        tmp_path, app, {"type": "restart", "timeout": "1s"}, limits={"maxTargets": 2}
    )
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=tmp_path / "j.db")
    assert result.returncode == 0, result.stderr
    attacked = records(result)
    assert [r["status"] for r in attacked] == ["recovered", "recovered"]
    assert len({r["target"]["id"] for r in attacked}) == 2


def test_stop_without_a_replacement_is_not_recovered_then_reverted(
    tmp_path: Path, run_target: RunTarget
) -> None:
    """A stopped container that nothing restarts is a finding; revert starts it again after."""
    app = unique_app()
    container = run_target(labels={"app": app})
    policy = write_policy(
        tmp_path, app, {"type": "stop", "timeout": "1s"}, recovery={"timeout": "2s"}
    )
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=tmp_path / "j.db")
    assert result.returncode == 6, result.stderr
    [record] = records(result)
    assert record["status"] == "not_recovered"
    assert record["revert"] == "reverted"
    container.reload()
    assert container.status == "running"


@pytest.mark.timing
def test_pause_judged_by_an_http_probe(
    tmp_path: Path, run_target: RunTarget, published_url: Callable[[Container], str]
) -> None:
    """A 1 s pause seen through an HTTP probe: detected fast, recovered after the unpause, and
    the container is running (not paused) afterwards."""
    app = unique_app()
    container = run_target(labels={"app": app})
    probe = {"http": {"url": published_url(container)}, "interval": "100ms", "timeout": "300ms"}
    policy = write_policy(
        tmp_path,
        app,
        {"type": "pause", "duration": "1s"},
        recovery={"timeout": "10s", "probe": probe},
    )
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=tmp_path / "j.db")
    assert result.returncode == 0, result.stderr
    [record] = records(result)
    assert record["status"] == "recovered"
    assert record["revert"] == "reverted"
    assert record["time_to_detect_seconds"] <= 0.6
    assert 1.0 <= record["recovery_seconds"] <= 1.8
    container.reload()
    assert container.status == "running"


def test_history_lists_what_attack_did(tmp_path: Path, run_target: RunTarget) -> None:
    """`history --output json` reads back the attack from the journal."""
    app = unique_app()
    run_target(labels={"app": app}, restart="always")
    db = tmp_path / "j.db"
    policy = write_policy(tmp_path, app, {"type": "restart", "timeout": "1s"})
    [attacked] = records(run_cli("attack", "--policy", str(policy), "--output", "json", db=db))
    [listed] = records(run_cli("history", "--output", "json", db=db))
    assert listed["id"] == attacked["id"]
    assert listed["status"] == "recovered"
    assert listed["recovery_seconds"] == attacked["recovery_seconds"]


def test_targets_lists_only_eligible_containers(tmp_path: Path, run_target: RunTarget) -> None:
    """`targets` shows the containers the policy may pick, without protected ones."""
    app = unique_app()
    kept = run_target(labels={"app": app})
    run_target(labels={"app": app, "chaosmonkey.io/protected": "true"})
    policy = write_policy(tmp_path, app, {"type": "kill"})
    result = run_cli("targets", "--policy", str(policy), "--output", "json", db=tmp_path / "j.db")
    assert result.returncode == 0, result.stderr
    assert [t["name"] for t in records(result)] == [kept.name]
