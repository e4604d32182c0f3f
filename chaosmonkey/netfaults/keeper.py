"""The dead man's switch of a network fault: one process that lives in the target's network
namespace exactly as long as the fault. It applies the fault's changes (and runs the fault proxy
for latency and HTTP errors), then removes them at the deadline or on SIGTERM, whether or not
the monkey that started it is still alive.

Started by the monkey as `nsenter -t PID -n python -m chaosmonkey.netfaults.keeper SPEC` (or in a
helper container sharing the target's namespace); SPEC, in its command line, carries the tag, so
the keeper of an attack can be found from any process (`find_keepers`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosmonkey import logs
from chaosmonkey.netfaults.apply import apply_changes, remove_tagged
from chaosmonkey.netfaults.netns import CommandFailed
from chaosmonkey.netfaults.rules import Change, IptablesRule, Qdisc, drain_rules

if TYPE_CHECKING:
    from chaosmonkey.netfaults.inproxy import FaultProxy

MODULE = "chaosmonkey.netfaults.keeper"
DRAINING = "cm-keeper-drain"  # the process's name once its fault is removed
# How long connections the fault proxy holds may finish by themselves once the fault ended.
DRAIN_S = 30.0
_PR_SET_NAME = 15


@dataclass(frozen=True)
class ProxySpec:
    """The fault proxy the keeper runs in the namespace: redirected connections land on `port`;
    its own upstream sockets carry `mark`, which the redirect rules exempt. It listens on
    127.0.0.1, or on every address (`listen_all`) for connections redirected from outside."""

    port: int
    mark: int
    toxic: dict[str, Any]
    listen_all: bool = False


@dataclass(frozen=True)
class KeeperSpec:
    tag: str
    deadline: float  # epoch seconds: the fault ends then, whatever happens to the monkey
    changes: list[Change] = field(default_factory=list)
    proxy: ProxySpec | None = None
    # Instead of `deadline`: the fault ends this long after it is applied, for a keeper whose
    # start may take long (a helper container is created first).
    hold_s: float | None = None

    def to_json(self) -> str:
        changes = [{"kind": type(c).__name__, **asdict(c)} for c in self.changes]
        proxy = asdict(self.proxy) if self.proxy else None
        fields = {"tag": self.tag, "deadline": self.deadline, "changes": changes, "proxy": proxy}
        if self.hold_s is not None:
            fields["hold_s"] = self.hold_s
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> KeeperSpec:
        data = json.loads(text)
        changes: list[Change] = []
        for item in data["changes"]:
            kind = item.pop("kind")
            if kind == "IptablesRule":
                changes.append(IptablesRule(**{**item, "spec": tuple(item["spec"])}))
            else:
                changes.append(Qdisc(**item))
        proxy = ProxySpec(**data["proxy"]) if data["proxy"] else None
        hold_s = data.get("hold_s")
        hold = float(hold_s) if hold_s is not None else None
        return cls(data["tag"], float(data["deadline"]), changes, proxy, hold)


class LocalExecutor:
    """Commands in the namespace this process already lives in."""

    name = "the keeper's network namespace"

    def run(self, argv: Sequence[str], timeout_s: float = 5.0) -> str:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise CommandFailed(self.name, argv, done.returncode, done.stderr)
        return done.stdout


def run(spec: KeeperSpec) -> int:
    """Apply, say ready on stdout, hold until the deadline or SIGTERM, remove."""
    logs.configure("warning", json=True)  # to stderr: stdout carries only the ready line
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    executor = LocalExecutor()
    proxy = _start_proxy(spec.proxy) if spec.proxy else None
    try:
        apply_changes(executor, spec.changes)
    except Exception as error:  # reported to the monkey, which records the attack as failed
        _say({"ready": False, "error": str(error)})
        return 1
    deadline = spec.deadline if spec.hold_s is None else time.time() + spec.hold_s
    _say({"ready": True, "pid": os.getpid()})
    stop.wait(max(0.0, deadline - time.time()))
    draining: list[IptablesRule] = []
    if proxy is not None and spec.proxy is not None:
        proxy.release()  # first: what is still redirected meanwhile is no longer degraded
        if proxy.open_connections():
            draining = drain_rules(spec.tag, spec.changes, spec.proxy.port)
            _insert(executor, draining)
    report = remove_tagged(executor, spec.tag)
    print(f"keeper {spec.tag}: {report}", file=sys.stderr)
    if proxy is not None:
        _name_myself(DRAINING)  # released: the monkey waits no longer for this process
        if not proxy.drain(DRAIN_S):
            print(f"keeper {spec.tag}: closed {proxy.open_connections()} connection(s) still "
                  f"open {DRAIN_S:g} s after the fault", file=sys.stderr)
        proxy.stop()
        _delete(executor, draining)
    return 0


def _insert(executor: LocalExecutor, rules: list[IptablesRule]) -> None:
    for rule in rules:
        executor.run(rule.insert_argv())


def _delete(executor: LocalExecutor, rules: list[IptablesRule]) -> None:
    for rule in rules:
        try:
            executor.run(rule.delete_argv())
        except CommandFailed as error:  # inert, but say it stayed
            print(f"keeper: could not delete {rule.spec}: {error}", file=sys.stderr)


def _say(message: dict[str, Any]) -> None:
    """One line for the monkey, then stdout is closed: nobody may be reading any more. A monkey
    that died before reading it (a broken pipe) changes nothing: the fault is held and ended at
    its deadline all the same."""
    with contextlib.suppress(OSError):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
    with contextlib.suppress(OSError):  # what a broken pipe left in the buffer is dropped
        sys.stdout.close()


def _start_proxy(spec: ProxySpec) -> FaultProxy:
    from chaosmonkey.netfaults.inproxy import FaultProxy

    proxy = FaultProxy(spec)
    proxy.start()
    return proxy


def _name_myself(name: str) -> None:
    """Sets this process's name (/proc/PID/comm, 15 bytes at most)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def is_draining(pid: int) -> bool:
    """Whether keeper `pid` has ended its fault and only lets open connections finish."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == DRAINING
    except OSError:
        return False


def find_keepers(tag: str) -> list[int]:
    """Pids of the live keepers of `tag` on this host that still hold its fault (their command
    line names it; one that released it and lets connections finish is no longer counted)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        named = MODULE.encode() in argv and any(f'"{tag}"'.encode() in arg for arg in argv)
        if named and not is_draining(int(proc.name)):
            found.append(int(proc.name))
    return found


def remove(tag: str) -> int:
    """Removes what `tag` owns in this namespace; the report as one JSON line on stdout."""
    report = remove_tagged(LocalExecutor(), tag)
    removed = sum(len(lines) for lines in report.rules_removed.values())
    _say({"rules_removed": removed, "qdiscs_removed": len(report.qdiscs_removed)})
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--remove":
        sys.exit(remove(sys.argv[2]))
    sys.exit(run(KeeperSpec.from_json(sys.argv[1])))
