"""Window edges to the microsecond, blackout midnights, and the hours daylight saving skips or
repeats, in Europe/Amsterdam and America/New_York: as the guard answers, as an engine with a
controlled clock acts, and as the planner's own window test agrees."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog.testing

from chaosmonkey.engine import Engine
from chaosmonkey.guards.window import window_closed_reason
from chaosmonkey.journal import Journal
from chaosmonkey.model import Outcome, Target
from chaosmonkey.policy.models import Policy, Window
from chaosmonkey.scheduling.planning import inside
from tests.unit.fakes import FakeBackend

MICROSECOND = timedelta(microseconds=1)
AMSTERDAM, NEW_YORK = "Europe/Amsterdam", "America/New_York"


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def window(zone: str, start: str, end: str, **more: Any) -> Window:
    return Window.model_validate({"timezone": zone, "start": start, "end": end, **more})


# (window, instant, open?, what it shows)
EDGES = [
    # Monday 23 November 2026, winter time: 09:00 CET is 08:00 UTC, 09:00 EST is 14:00 UTC
    (window(AMSTERDAM, "09:00", "17:00"), utc(2026, 11, 23, 8), True, "exactly at start"),
    (window(AMSTERDAM, "09:00", "17:00"), utc(2026, 11, 23, 8) - MICROSECOND, False, "1us before"),
    (window(AMSTERDAM, "09:00", "17:00"), utc(2026, 11, 23, 16), False, "exactly at end"),
    (
        window(AMSTERDAM, "09:00", "17:00"),
        utc(2026, 11, 23, 16) - MICROSECOND,
        True,
        "1us before end",
    ),
    (window(NEW_YORK, "09:00", "17:00"), utc(2026, 11, 23, 14), True, "exactly at start"),
    (window(NEW_YORK, "09:00", "17:00"), utc(2026, 11, 23, 14) - MICROSECOND, False, "1us before"),
    (window(NEW_YORK, "09:00", "17:00"), utc(2026, 11, 23, 22), False, "exactly at end"),
    (
        window(NEW_YORK, "09:00", "17:00"),
        utc(2026, 11, 23, 22) - MICROSECOND,
        True,
        "1us before end",
    ),
    # Amsterdam, 29 March 2026: 02:00 CET jumps to 03:00 CEST at 01:00 UTC
    (
        window(AMSTERDAM, "02:00", "02:30"),
        utc(2026, 3, 29, 1) - MICROSECOND,
        False,
        "gap: 01:59 CET",
    ),
    (window(AMSTERDAM, "02:00", "02:30"), utc(2026, 3, 29, 1), False, "gap: 03:00 CEST"),
    (window(AMSTERDAM, "01:30", "03:30"), utc(2026, 3, 29, 0, 30), True, "across the gap: 01:30"),
    (window(AMSTERDAM, "01:30", "03:30"), utc(2026, 3, 29, 1, 29, 59), True, "across: 03:29:59"),
    (window(AMSTERDAM, "01:30", "03:30"), utc(2026, 3, 29, 1, 30), False, "across: 03:30 CEST"),
    (window(AMSTERDAM, "02:30", "04:00"), utc(2026, 3, 29, 1) - MICROSECOND, False, "start in gap"),
    (window(AMSTERDAM, "02:30", "04:00"), utc(2026, 3, 29, 1), True, "start in gap: 03:00 opens"),
    # Amsterdam, 25 October 2026: 03:00 CEST falls back to 02:00 CET at 01:00 UTC
    (window(AMSTERDAM, "02:00", "02:30"), utc(2026, 10, 25, 0), True, "repeat: first 02:00"),
    (window(AMSTERDAM, "02:00", "02:30"), utc(2026, 10, 25, 0, 30), False, "repeat: first 02:30"),
    (window(AMSTERDAM, "02:00", "02:30"), utc(2026, 10, 25, 1) - MICROSECOND, False, "02:59 CEST"),
    (window(AMSTERDAM, "02:00", "02:30"), utc(2026, 10, 25, 1), True, "repeat: second 02:00"),
    (window(AMSTERDAM, "02:00", "02:30"), utc(2026, 10, 25, 1, 30), False, "repeat: second 02:30"),
    # New York, 8 March 2026: 02:00 EST jumps to 03:00 EDT at 07:00 UTC
    (window(NEW_YORK, "02:00", "02:30"), utc(2026, 3, 8, 7) - MICROSECOND, False, "gap: 01:59 EST"),
    (window(NEW_YORK, "02:00", "02:30"), utc(2026, 3, 8, 7), False, "gap: 03:00 EDT"),
    (window(NEW_YORK, "01:30", "03:30"), utc(2026, 3, 8, 6, 30), True, "across the gap: 01:30"),
    (window(NEW_YORK, "01:30", "03:30"), utc(2026, 3, 8, 7, 30), False, "across: 03:30 EDT"),
    (window(NEW_YORK, "02:30", "04:00"), utc(2026, 3, 8, 7), True, "start in gap: 03:00 opens"),
    # New York, 1 November 2026: 02:00 EDT falls back to 01:00 EST at 06:00 UTC
    (window(NEW_YORK, "01:00", "01:30"), utc(2026, 11, 1, 5), True, "repeat: first 01:00"),
    (window(NEW_YORK, "01:00", "01:30"), utc(2026, 11, 1, 5, 30), False, "repeat: first 01:30"),
    (window(NEW_YORK, "01:00", "01:30"), utc(2026, 11, 1, 6) - MICROSECOND, False, "01:59 EDT"),
    (window(NEW_YORK, "01:00", "01:30"), utc(2026, 11, 1, 6), True, "repeat: second 01:00"),
    (window(NEW_YORK, "01:00", "01:30"), utc(2026, 11, 1, 6, 30), False, "repeat: second 01:30"),
]


@pytest.mark.parametrize(("rule", "at", "is_open", "what"), EDGES, ids=[e[3] for e in EDGES])
def test_the_guard_at_the_edges(rule: Window, at: datetime, is_open: bool, what: str) -> None:
    """Start inclusive and end exclusive on the local wall clock, to the microsecond: a window
    inside a skipped hour never opens; one across it is open its real length; a repeated hour
    opens it twice."""
    assert (window_closed_reason(rule, at) is None) is is_open


@pytest.mark.parametrize(("rule", "at", "is_open", "what"), EDGES, ids=[e[3] for e in EDGES])
def test_the_planner_agrees_at_the_edges(
    rule: Window, at: datetime, is_open: bool, what: str
) -> None:
    """The planner's own test of a time (Chaos Monkey mode) answers as the guard does, so that a
    planned attack is never refused by the window when its time comes."""
    local_day = at.astimezone(ZoneInfo(rule.timezone)).date()
    assert inside(rule, local_day, at) is is_open


def test_a_window_in_a_skipped_hour_has_no_time_that_day() -> None:
    """Every second of the day of the spring-forward change is closed for 02:00-02:30 Amsterdam,
    and the day before has 30 minutes open."""
    rule, zone = window(AMSTERDAM, "02:00", "02:30"), ZoneInfo(AMSTERDAM)

    def open_seconds(day: date) -> int:
        """Open time of `day`, sampled every 15 s from its local midnight for 25 hours."""
        first = datetime.combine(day, time(0), zone).astimezone(UTC)
        moments = [first + timedelta(seconds=s) for s in range(0, 25 * 3600, 15)]
        on_day = [m for m in moments if m.astimezone(zone).date() == day]
        return 15 * sum(window_closed_reason(rule, m) is None for m in on_day)

    assert open_seconds(date(2026, 3, 29)) == 0
    assert open_seconds(date(2026, 3, 28)) == 30 * 60
    assert open_seconds(date(2026, 10, 25)) == 60 * 60  # the repeated hour opens it twice


@pytest.mark.parametrize(
    ("zone", "midnight"),
    [(AMSTERDAM, utc(2026, 12, 24, 23)), (NEW_YORK, utc(2026, 12, 25, 5))],
)
def test_a_blackout_day_starts_at_local_midnight(zone: str, midnight: datetime) -> None:
    """A blackout on 25 December closes the window from 00:00 local exactly to the next local
    midnight. (The default end, 23:59:59, is exclusive: the day before is open until then.)"""
    rule = Window.model_validate({"timezone": zone, "blackout": ["2026-12-25"]})
    blackout = "outside the window: 2026-12-25 is a blackout day"
    assert window_closed_reason(rule, midnight - timedelta(seconds=1) - MICROSECOND) is None
    assert window_closed_reason(rule, midnight) == blackout
    assert window_closed_reason(rule, midnight + timedelta(hours=24) - MICROSECOND) == blackout
    assert window_closed_reason(rule, midnight + timedelta(hours=24)) is None


def armed(rule: Window) -> Policy:
    return Policy.model_validate(
        {
            "apiVersion": "chaosmonkey/v1",
            "kind": "Policy",
            "metadata": {"name": "edges"},
            "spec": {
                "dryRun": False,
                "fault": {"type": "kill"},
                "window": rule.model_dump(by_alias=True),
                "recovery": {"timeout": "1s"},
            },
        }
    )


@pytest.mark.parametrize(("rule", "at", "is_open", "what"), EDGES, ids=[e[3] for e in EDGES])
def test_an_engine_on_a_controlled_clock_acts_at_the_edges(
    rule: Window, at: datetime, is_open: bool, what: str, tmp_path: Path
) -> None:
    """An engine whose clock reads `at` attacks exactly when the window is open, and records a
    skipped run naming the window otherwise; the attack is dated by that clock."""
    backend = FakeBackend([Target("docker", f"c{i}", f"web-{i}", "web") for i in range(2)])
    backend.recover_after = 0.0
    journal = Journal(tmp_path / "j.db")
    engine = Engine(lambda name: backend, journal, rng=random.Random(1), timer=backend.timer)
    engine.clock = lambda: at
    with structlog.testing.capture_logs():
        [record] = engine.run_policy(armed(rule))
    assert record.created_at == at.timestamp()
    if is_open:
        assert record.outcome is Outcome.RECOVERED
        assert len(backend.applied) == 1
    else:
        assert record.outcome is Outcome.SKIPPED
        assert record.reason is not None
        assert record.reason.startswith("outside the window")
        assert backend.applied == []
