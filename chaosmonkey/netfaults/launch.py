"""Starts a fault's keeper in a target's network namespace from the host, and stops it."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaosmonkey.errors import BackendError
from chaosmonkey.netfaults.keeper import MODULE, KeeperSpec, find_keepers, is_draining
from chaosmonkey.netfaults.netns import namespace_of

READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3.0
_children: list[subprocess.Popen[bytes]] = []  # reaped as they end, so none stays a zombie


def keeper_log(tag: str) -> Path:
    return Path(tempfile.gettempdir()) / f"chaosmonkey-keeper-{tag.split(':')[-1]}.log"


def launch_keeper(pid: int, spec: KeeperSpec) -> int:
    """Runs the keeper in the namespace of `pid`, in its own session (it outlives the monkey);
    returns its pid once it says the fault is applied."""
    argv = ["nsenter", "-t", str(pid), "-n", sys.executable, "-m", MODULE, spec.to_json()]
    log = keeper_log(spec.tag)
    with log.open("ab") as stderr:
        keeper = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
    _children.append(keeper)
    message = _ready_line(keeper, log)
    if not message.get("ready"):
        keeper.wait(timeout=STOP_TIMEOUT_S)
        raise BackendError(f"the fault could not be applied: {message.get('error')}")
    return keeper.pid


def _ready_line(keeper: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    assert keeper.stdout is not None
    ready, _, _ = select.select([keeper.stdout], [], [], READY_TIMEOUT_S)
    line = keeper.stdout.readline() if ready else b""
    keeper.stdout.close()
    if not line:
        keeper.kill()
        keeper.wait()
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise BackendError(
            f"the fault's keeper did not start within {READY_TIMEOUT_S:g}s: {' '.join(tail)}"
        )
    result: dict[str, object] = json.loads(line)
    return result


def stop_keepers(tag: str) -> list[str | None]:
    """Asks every live keeper of `tag` to remove its fault and waits until each has (it may
    then let the connections its proxy holds finish); returns the network namespaces they held
    the fault in."""
    pids = find_keepers(tag)
    namespaces = [namespace_of(pid) for pid in pids]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _holding(pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in _holding(pids):
        _signal(pid, signal.SIGKILL)  # its rules are still removed by tag, by the caller
    return namespaces


def _holding(pids: list[int]) -> list[int]:
    return [pid for pid in _alive(pids) if not is_draining(pid)]


def _alive(pids: list[int]) -> list[int]:
    for child in list(_children):
        if child.poll() is not None:
            _children.remove(child)
    return [pid for pid in pids if _running(pid)]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
