"""Runs the real `chaosmonkey` command in a subprocess, and writes policies for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def run_cli(
    *args: str,
    db: Path | None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    wrapper: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`chaosmonkey ARGS [--db DB]`, as a user runs it, with its exit code and both streams;
    `wrapper` is a command prefix (such as setpriv to run as another user)."""
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "chaosmonkey", *args, *(["--db", str(db)] if db else [])],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def records(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The attack records of `--output json`, failing with stderr when stdout is not JSON."""
    try:
        data: list[dict[str, Any]] = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(f"no JSON ({error}); stderr:\n{result.stderr}") from None
    return data


def unique_app() -> str:
    """A label value no other test's containers carry."""
    return f"app-{uuid.uuid4().hex[:8]}"


def write_policy(
    directory: Path,
    app: str,
    fault: dict[str, Any],
    name: str = "test-policy",
    **spec: Any,
) -> Path:
    """An armed policy selecting containers labelled app=`app`.

    A test's containers run alone, each a group of one: its policy attacks a group's last
    member on purpose (`limits.allowLastMember`, kept whatever other `limits` are given)."""
    body: dict[str, Any] = {
        "dryRun": False,
        "targets": {"labels": {"app": app}},
        "fault": fault,
        "recovery": {"timeout": "20s"},
    }
    body.update(spec)
    body["limits"] = {"allowLastMember": True, **spec.get("limits", {})}
    document = {
        "apiVersion": "chaosmonkey/v1",
        "kind": "Policy",
        "metadata": {"name": name},
        "spec": body,
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
