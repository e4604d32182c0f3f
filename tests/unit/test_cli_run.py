"""`chaosmonkey run`'s options as the daemon receives them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import chaosmonkey.daemon
from chaosmonkey.cli import cli

POLICY = """\
apiVersion: chaosmonkey/v1
kind: Policy
metadata: {name: web-kill}
spec:
  targets: {labels: {app: web}}
  fault: {type: kill}
  schedule: {interval: 1h}
"""


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The daemon's arguments, instead of running it."""
    calls: dict[str, Any] = {}
    monkeypatch.setattr(chaosmonkey.daemon, "serve", lambda *args, **kwargs: calls.update(kwargs))
    return calls


def run(tmp_path: Path, *options: str) -> Any:
    (tmp_path / "web.yaml").write_text(POLICY)
    args = ["run", "--policies", str(tmp_path), "--db", str(tmp_path / "j.db"), *options]
    return CliRunner().invoke(cli, args)


def test_the_journal_keeps_every_attack_by_default(tmp_path: Path, served: dict[str, Any]) -> None:
    assert run(tmp_path).exit_code == 0
    assert served["keep_days"] is None


def test_keep_days_reaches_the_daemon(tmp_path: Path, served: dict[str, Any]) -> None:
    assert run(tmp_path, "--keep-days", "30").exit_code == 0
    assert served["keep_days"] == 30


def test_keep_days_below_one_is_refused(tmp_path: Path, served: dict[str, Any]) -> None:
    """One line naming the option and what it expects; exit 2; no daemon."""
    result = run(tmp_path, "--keep-days", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--keep-days': 0 is not in the range x>=1." in result.output
    assert served == {}
