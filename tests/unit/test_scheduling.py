"""Schedules: cron and intervals become APScheduler triggers in the window's timezone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from chaosmonkey.policy.models import Policy
from chaosmonkey.scheduling.scheduler import check_cron, has_trigger, next_runs


def policy(schedule: dict[str, Any], window: dict[str, Any] | None = None) -> Policy:
    spec: dict[str, Any] = {"fault": {"type": "kill"}, "schedule": schedule}
    if window:
        spec["window"] = window
    return Policy.model_validate(
        {"apiVersion": "chaosmonkey/v1", "kind": "Policy", "metadata": {"name": "p"}, "spec": spec}
    )


def test_cron_fires_in_the_window_timezone() -> None:
    """`0 9 * * mon-fri` in Amsterdam fires at 08:00 UTC in winter, skipping the weekend."""
    cron = policy({"cron": "0 9 * * mon-fri"}, {"timezone": "Europe/Amsterdam"})
    friday = datetime(2026, 11, 27, 12, tzinfo=UTC)
    runs = next_runs(cron, 2, friday)
    assert [r.astimezone(UTC) for r in runs] == [
        datetime(2026, 11, 30, 8, tzinfo=UTC),
        datetime(2026, 12, 1, 8, tzinfo=UTC),
    ]


def test_interval_fires_every_period() -> None:
    """An interval of 10m fires every ten minutes."""
    runs = next_runs(policy({"interval": "10m"}), 3, datetime(2026, 11, 23, tzinfo=UTC))
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(runs)] == [600, 600]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "expected five cron fields"),
        ("0 25 * * *", "expected a valid cron expression"),
        ("0 9 * * 1-5", "expected weekday names"),
        ("0 9 * * funday", "expected a valid cron expression"),
    ],
)
def test_bad_cron_is_refused(expression: str, message: str) -> None:
    """Malformed cron lines and numbered weekdays are refused with what was expected."""
    with pytest.raises(ValueError, match=message):
        check_cron(expression)


def test_schedule_needs_exactly_one_kind() -> None:
    """Both interval and cron, or neither, is refused."""
    with pytest.raises(ValueError, match="exactly one of interval or cron"):
        policy({"interval": "1m", "cron": "* * * * *"})


def test_only_interval_and_cron_policies_get_a_trigger() -> None:
    """Chaos Monkey mode policies run by their daily plan, not by a trigger of the scheduler."""
    window = {"timezone": "UTC"}
    assert has_trigger(policy({"interval": "1m"})) is True
    assert has_trigger(policy({"meanTimeBetweenAttacks": "2d"}, window)) is False
