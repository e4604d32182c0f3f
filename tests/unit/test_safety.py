"""Attack windows: days, hours and timezones, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time

from chaosmonkey.policy.models import Window
from chaosmonkey.safety import window_closed_reason

AMSTERDAM_OFFICE = Window(
    timezone="Europe/Amsterdam",
    days=["mon", "tue", "wed", "thu", "fri"],
    start=time(9),
    end=time(17),
)


def test_no_window_is_always_open() -> None:
    """Without a window the schedule alone decides."""
    assert window_closed_reason(None, datetime(2026, 11, 22, 3, tzinfo=UTC)) is None


def test_inside_and_outside_office_hours() -> None:
    """Monday 09:30 in Amsterdam (08:30 UTC in winter) is open; 08:30 local is closed."""
    assert window_closed_reason(AMSTERDAM_OFFICE, datetime(2026, 11, 23, 8, 30, tzinfo=UTC)) is None
    reason = window_closed_reason(AMSTERDAM_OFFICE, datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    assert reason == "outside the window: 08:30 Europe/Amsterdam is not within 09:00-17:00"


def test_the_end_is_exclusive() -> None:
    """17:00 local is already outside a window that ends at 17:00."""
    assert window_closed_reason(AMSTERDAM_OFFICE, datetime(2026, 11, 23, 16, 0, tzinfo=UTC))


def test_weekend_days_are_closed() -> None:
    """Saturday noon is outside a weekday window, and the reason names the day."""
    reason = window_closed_reason(AMSTERDAM_OFFICE, datetime(2026, 11, 28, 11, 0, tzinfo=UTC))
    assert reason is not None
    assert "sat is not one of" in reason


def test_daylight_saving_moves_the_window_in_utc() -> None:
    """08:30 UTC is 09:30 in Amsterdam in winter but 10:30 in summer; 07:30 UTC is inside only
    in summer (09:30 CEST) after the change of 29 March 2026."""
    before = datetime(2026, 3, 27, 7, 30, tzinfo=UTC)  # Friday, CET: 08:30 local
    after = datetime(2026, 3, 30, 7, 30, tzinfo=UTC)  # Monday, CEST: 09:30 local
    assert window_closed_reason(AMSTERDAM_OFFICE, before) is not None
    assert window_closed_reason(AMSTERDAM_OFFICE, after) is None
