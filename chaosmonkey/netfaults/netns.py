"""Runs the host's iptables and tc inside a target's network namespace (`nsenter -t PID -n`).

nsenter switches only the network namespace: the binaries, the xtables lock and the file system
stay the host's, so the host needs iptables (nf_tables backend) and iproute2, not the container.
The namespace is pinned when the executor is made (`net:[inode]`): if the process is gone, or its
pid now names another namespace, every command raises `TargetGone` instead of touching a stranger.
The kernel reuses those inodes (a restarted container may get its old one): the pid tells apart.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence
from typing import Protocol

from chaosmonkey.errors import BackendError, ChaosMonkeyError, PermissionDenied, TargetGone

_SHOWN_CHARS = 160


class Executor(Protocol):
    """Where network commands run: one network namespace."""

    @property
    def name(self) -> str: ...

    def run(self, argv: Sequence[str], timeout_s: float = 5.0) -> str: ...


class CommandFailed(BackendError):
    """A command exited non-zero in the namespace; the message is its stderr's first line."""

    def __init__(self, where: str, argv: Sequence[str], returncode: int, stderr: str) -> None:
        reason = _first_line(stderr) or f"exit status {returncode}"
        super().__init__(f"{_shown(argv)} failed in {where}: {reason}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


class HostNamespaceRefused(ChaosMonkeyError):
    """The target shares the host's (or our own) network namespace: a fault would hit the host."""


class NetnsExecutor:
    """Commands in the network namespace of process `pid`, as it is now or as `netns` recorded."""

    def __init__(self, pid: int, netns: str | None = None, *, allow_host: bool = False) -> None:
        self.pid = pid
        self.netns = netns or namespace_of(pid)  # None: the process is already gone
        self.allow_host = allow_host

    @property
    def name(self) -> str:
        return f"the network namespace of pid {self.pid} ({self.netns or 'gone'})"

    def run(self, argv: Sequence[str], timeout_s: float = 5.0) -> str:
        """stdout of `argv` run in the namespace; `CommandFailed` when it exits non-zero."""
        self.check()
        command = ["nsenter", "-t", str(self.pid), "-n", *argv]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except FileNotFoundError:
            raise BackendError("nsenter is not on PATH: install util-linux on the host") from None
        except subprocess.TimeoutExpired:
            shown = _shown(argv)
            raise BackendError(f"{shown} timed out after {timeout_s} s in {self.name}") from None
        if done.returncode != 0:
            self.check()  # the namespace vanished under the command: say so, not "failed"
            raise CommandFailed(self.name, argv, done.returncode, done.stderr)
        return done.stdout

    def check(self) -> None:
        """`TargetGone` unless the pid still lives in the pinned namespace (not the host's)."""
        current = namespace_of(self.pid)
        if self.netns is None or current != self.netns:
            raise TargetGone(f"{self.name} no longer exists (the process exited or was replaced)")
        if not self.allow_host and current in _own_namespaces():
            raise HostNamespaceRefused(
                f"pid {self.pid} shares the host's network namespace {current}: "
                "network faults apply only to targets with their own namespace "
                "unless the host network is explicitly allowed"
            )


def namespace_of(pid: int) -> str | None:
    """`net:[inode]` of the process, None when it does not exist."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError:
        raise PermissionDenied(
            f"cannot read /proc/{pid}/ns/net: entering a network namespace needs root"
        ) from None


def _own_namespaces() -> set[str]:
    """The namespaces of init (the host, when we see its pids) and of ourselves."""
    found = set()
    for path in ("/proc/1/ns/net", "/proc/self/ns/net"):
        try:
            found.add(os.readlink(path))
        except OSError:  # not ours to read: nothing to compare with
            continue
    return found


def _shown(argv: Sequence[str]) -> str:
    text = shlex.join(argv)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
