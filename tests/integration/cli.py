"""Runs the real `chaosmonkey` command in a subprocess, and writes policies for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

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
        [*wrapper, *_command(args, db)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start_cli(
    *args: str,
    db: Path | None = None,
    env: dict[str, str] | None = None,
    stdout: int | IO[str] = subprocess.PIPE,
    stderr: int | IO[str] = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """`chaosmonkey ARGS [--db DB]` started in the background; its streams piped unless told."""
    return subprocess.Popen(
        _command(args, db),
        stdout=stdout,
        stderr=stderr,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _command(args: Sequence[str], db: Path | None) -> list[str]:
    return [sys.executable, "-m", "chaosmonkey", *args, *(["--db", str(db)] if db else [])]


class MonkeyProcess:
    """A `chaosmonkey` process a test started (the `monkeys` fixture kills any left running)."""

    process: subprocess.Popen[str]

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        """Sends `sig` and waits for the exit code."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


class LoggingMonkey(MonkeyProcess):
    """A `chaosmonkey run` process logging JSON lines (debug included) to a file of its own."""

    def __init__(
        self, log: Path, *run_args: str, db: Path, env: dict[str, str] | None = None
    ) -> None:
        """`chaosmonkey --log-level debug run RUN_ARGS --db DB`, metrics on a free port."""
        self.log = log
        metrics = ("--metrics-port", "0", "--metrics-address", "127.0.0.1")
        with log.open("w") as sink:
            self.process = start_cli(
                *("--log-level", "debug", "run", *run_args, *metrics),
                db=db,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )

    def events(self, *names: str) -> list[dict[str, Any]]:
        """Its log lines with one of the events `names`, oldest first."""
        lines = (_parse(line) for line in self.log.read_text().splitlines())
        return [line for line in lines if line.get("event") in names]


def _parse(line: str) -> dict[str, Any]:
    """A JSON log line; {} for anything else (a library's warning, say)."""
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


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
