"""The keeper's spec on its command line, and how long it holds a fault."""

from __future__ import annotations

import io
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import pytest

from chaosmonkey.netfaults import keeper
from chaosmonkey.netfaults.keeper import KeeperSpec, ProxySpec
from chaosmonkey.netfaults.rules import IptablesRule, Qdisc, tag_for

TAG = tag_for("a1")
RULE = IptablesRule(TAG, "filter", "INPUT", ("-p", "tcp", "-j", "DROP"))


class TimedNamespace:
    """An empty namespace that notes when each command ran."""

    name = "a test namespace"

    def __init__(self) -> None:
        self.calls: list[tuple[float, list[str]]] = []

    def run(self, argv: Sequence[str], timeout_s: float = 5.0) -> str:
        self.calls.append((time.time(), list(argv)))
        return ""


@pytest.mark.parametrize("hold_s", [None, 2.5])
def test_the_spec_survives_the_command_line(hold_s: float | None) -> None:
    spec = KeeperSpec(
        TAG,
        1_800_000_000.5,
        [RULE, Qdisc(TAG, "eth0", "1mbit", 16384, 32768)],
        ProxySpec(port=15001, mark=7, toxic={"type": "latency"}),
        hold_s=hold_s,
    )
    assert KeeperSpec.from_json(spec.to_json()) == spec


def run_keeper(monkeypatch: pytest.MonkeyPatch, spec: KeeperSpec) -> tuple[float, float]:
    """Runs the keeper on an empty namespace: when it said ready, and when it began removing."""
    namespace = TimedNamespace()
    said: list[tuple[float, dict[str, Any]]] = []
    monkeypatch.setattr(keeper, "LocalExecutor", lambda: namespace)
    monkeypatch.setattr(keeper, "_say", lambda message: said.append((time.time(), message)))
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # pytest keeps its own handlers
    assert keeper.run(spec) == 0
    [(ready_at, message)] = said
    assert message["ready"] is True
    removing_at = next(at for at, argv in namespace.calls if argv[0] == "iptables-save")
    return ready_at, removing_at


def test_a_hold_counts_from_when_the_fault_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper container may start after the fault's planned end: with `hold_s`, the keeper
    still holds the fault that long after applying it."""
    ready_at, removing_at = run_keeper(monkeypatch, KeeperSpec(TAG, 0.0, [RULE], hold_s=0.3))
    assert removing_at - ready_at >= 0.3


def test_a_past_deadline_ends_the_fault_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    ready_at, removing_at = run_keeper(monkeypatch, KeeperSpec(TAG, time.time() - 5, [RULE]))
    assert removing_at - ready_at < 0.3


class GonePipe(io.StringIO):
    """stdout whose reader is gone: the monkey was killed before it read the ready line."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_monkey_gone_before_the_ready_line_still_gets_its_fault_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The keeper outlives a monkey killed between the fault's apply and its ready line: it does
    not die of the broken pipe with the rules in place, it ends the fault at its deadline."""
    namespace = TimedNamespace()
    monkeypatch.setattr(keeper, "LocalExecutor", lambda: namespace)
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    monkeypatch.setattr(sys, "stdout", GonePipe())
    assert keeper.run(KeeperSpec(TAG, time.time() - 5, [RULE])) == 0
    commands = [argv[0] for _, argv in namespace.calls]
    assert commands[0] == "iptables"  # the rule applied
    assert "iptables-save" in commands  # then removed by its tag
