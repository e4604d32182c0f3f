"""Attack windows: days, hours and timezones, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from chaosmonkey.guards.window import window_closed_reason
from chaosmonkey.policy.models import Window

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


def test_blackout_days_close_the_window_in_its_timezone() -> None:
    """A blackout date and a range close the window all day long, in the window's timezone."""
    window = Window.model_validate(
        {
            "timezone": "Europe/Amsterdam",
            "blackout": ["2026-12-25", {"from": "2026-12-28", "to": "2027-01-01"}],
        }
    )
    christmas_eve_late_utc = datetime(2026, 12, 24, 23, 30, tzinfo=UTC)  # 00:30 on the 25th
    assert window_closed_reason(window, christmas_eve_late_utc) == (
        "outside the window: 2026-12-25 is a blackout day"
    )
    assert window_closed_reason(window, datetime(2026, 12, 24, 12, tzinfo=UTC)) is None
    assert window_closed_reason(window, datetime(2026, 12, 30, 12, tzinfo=UTC)) is not None
    assert window_closed_reason(window, datetime(2027, 1, 2, 12, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("blackout", "message"),
    [
        ({"from": "2026-12-28"}, "expected both from and to"),
        ({"from": "2027-01-02", "to": "2026-12-28"}, "expected from on or before to"),
        ("2026-13-01", "Input should be a valid date"),
    ],
)
def test_bad_blackouts_are_refused(blackout: object, message: str) -> None:
    """Half ranges, reversed ranges and impossible dates are refused."""
    with pytest.raises(ValueError, match=message):
        Window.model_validate({"blackout": [blackout]})
