"""Tables for people at a terminal: names and reasons printed as they are."""

from __future__ import annotations

import pytest
from rich.console import Console

from chaosmonkey import render
from chaosmonkey.model import AttackRecord, Outcome, Target
from chaosmonkey.policy.models import Limits

ODD = "web-[/x]-[bold]1"  # rich markup, in a name a container may have


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> Console:
    console = Console(record=True, width=300)
    monkeypatch.setattr(render, "stdout", console)
    return console


def test_markup_in_names_is_printed_not_read(printed: Console) -> None:
    """A target named with `[/x]` (a closing tag without an opening one) is shown as it is, in
    the targets table and in history, its reason included, instead of failing the command."""
    target = Target("docker", "c1", ODD, f"group-{ODD}")
    render.targets_table("p[/x]", [target], Limits())
    record = AttackRecord("a1", "p[/x]", "docker", "kill", target, False, outcome=Outcome.FAILED)
    record.reason = f"{ODD} not back"
    render.records_table([record])
    text = printed.export_text()
    assert ODD in text
    assert f"group-{ODD}" in text
    assert f"a1: {ODD} not back" in text
