"""Bad input through the real command: one clear line, a non-zero exit, nothing attacked and
nothing lost from the journal."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from docker.models.containers import Container

from tests.integration.cli import records, run_cli, unique_app, write_policy
from tests.integration.conftest import RunTarget, started_at

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def journal_with_history(tmp_path: Path, run_target: RunTarget) -> tuple[Path, str, Container]:
    """A journal holding one dry-run attack, and the container it matched."""
    app = unique_app()
    container = run_target(labels={"app": app})
    policy = write_policy(tmp_path, app, {"type": "kill"}, name="first")
    db = tmp_path / "j.db"
    result = run_cli("attack", "--policy", str(policy), "--dry-run", db=db)
    assert result.returncode == 0, result.stderr
    return db, app, container


def history(db: Path) -> list[dict[str, object]]:
    return records(run_cli("history", "--output", "json", db=db))


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_validate_reports_each_error_as_path_line_message(tmp_path: Path) -> None:
    """`validate` exits 2 and prints PATH:LINE: message for every error; 0 when valid."""
    bad = write_policy(tmp_path, "web", {"type": "kill", "signal": "SIGNOPE"}, name="bad")
    bad.write_text(bad.read_text() + "  bogus: 1\n")
    result = run_cli("validate", str(bad), db=None)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"{bad}:")
    assert "spec.fault.signal: expected a signal name" in lines[0]
    assert lines[1].startswith(f"{bad}:")
    assert lines[1].endswith("spec.bogus: unknown field")
    ok = run_cli("validate", str(REPO / "policies"), db=None)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"type": "kill", "signal": "SIGFOO"}, "spec.fault.signal: expected a signal name"),
        ({"type": "explode"}, "spec.fault.type: unknown fault type 'explode'"),
        ({"type": "pause", "duration": "-1s"}, "spec.fault.duration: expected a duration"),
        ({"type": "stop", "timeout": "ten"}, "spec.fault.timeout: expected a duration"),
    ],
)
def test_an_invalid_policy_attacks_nothing(
    fault: dict[str, str],
    expected: str,
    tmp_path: Path,
    journal_with_history: tuple[Path, str, Container],
) -> None:
    """An invalid policy given to `attack` exits 2 with one line; the container and the journal
    are untouched."""
    db, app, container = journal_with_history
    before, before_history = started_at(container), history(db)
    policy = write_policy(tmp_path, app, fault, name="broken")
    result = run_cli("attack", "--policy", str(policy), db=db)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"{policy}:")
    assert expected in line
    assert started_at(container) == before
    assert history(db) == before_history


def test_a_bad_cron_attacks_nothing(tmp_path: Path) -> None:
    """A cron with six fields is refused at its line by `run` before anything starts."""
    policies = tmp_path / "policies"
    policies.mkdir()
    write_policy(policies, "web", {"type": "kill"}, schedule={"cron": "0 0 9 * * mon"})
    result = run_cli("run", "--policies", str(policies), db=tmp_path / "j.db", timeout=20)
    assert result.returncode == 2
    assert "spec.schedule.cron: expected five cron fields" in one_line(result.stderr)


def test_a_selector_matching_nothing_attacks_nothing(
    tmp_path: Path, journal_with_history: tuple[Path, str, Container]
) -> None:
    """A selector that matches no container exits 4 with one line naming the policy."""
    db, _, _ = journal_with_history
    before_history = history(db)
    policy = write_policy(tmp_path, unique_app(), {"type": "kill"}, name="nothing")
    result = run_cli("attack", "--policy", str(policy), db=db)
    assert result.returncode == 4
    assert one_line(result.stderr) == f"{policy}:1: spec.targets matches no running docker target"
    assert history(db) == before_history


def test_an_unreachable_engine_is_named(
    tmp_path: Path, journal_with_history: tuple[Path, str, Container]
) -> None:
    """With DOCKER_HOST on a socket nobody serves: exit 3, one line naming the engine address."""
    db, app, container = journal_with_history
    before, before_history = started_at(container), history(db)
    policy = write_policy(tmp_path, app, {"type": "kill"}, name="unreachable")
    socket = tmp_path / "absent.sock"
    result = run_cli(
        "attack", "--policy", str(policy), db=db, env={"DOCKER_HOST": f"unix://{socket}"}
    )
    assert result.returncode == 3
    line = one_line(result.stderr)
    assert line.startswith(f"cannot reach the Docker engine at unix://{socket}")
    assert "is dockerd running?" in line
    assert started_at(container) == before
    assert history(db) == before_history


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv"
)
def test_no_permission_on_the_socket_is_named(
    tmp_path: Path, journal_with_history: tuple[Path, str, Container]
) -> None:
    """Run as an unprivileged user, the command cannot use the engine's socket: exit 3 and one
    line saying so; nothing attacked."""
    _db, app, container = journal_with_history
    before = started_at(container)
    with tempfile.TemporaryDirectory(prefix="chaosmonkey-nobody-") as shared:
        workdir = Path(shared)
        workdir.chmod(0o777)  # the unprivileged user writes its journal here
        policy = write_policy(workdir, app, {"type": "kill"}, name="no-permission")
        policy.chmod(0o644)
        result = run_cli(
            "attack",
            "--policy",
            str(policy),
            db=workdir / "j.db",
            env={"DOCKER_HOST": "unix:///var/run/docker.sock"},
            wrapper=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
        )
    assert result.returncode == 3, result.stderr
    assert one_line(result.stderr).startswith("no permission on the Docker engine socket")
    assert started_at(container) == before


@pytest.mark.parametrize(
    "command",
    [("halt",), ("resume",), ("revert", "--all"), ("status",), ("history",)],
    ids=lambda command: command[0],
)
def test_steering_a_journal_that_is_not_there_creates_none(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """`halt` in the wrong folder must not halt an empty new journal and say it did: a command
    that only reads or steers refuses a journal that does not exist (exit 2, one line) and
    creates nothing, neither the file nor its folder."""
    db = tmp_path / "elsewhere" / "chaosmonkey.db"
    result = run_cli(*command, db=db)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        f"{db}: no journal there: pass the --db of the monkey to read or steer (or set "
        "$CHAOSMONKEY_DB); nothing was done"
    )
    assert not db.parent.exists()
