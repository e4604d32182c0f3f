"""Durations as written in policies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaosmonkey.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("90s", 90),
        ("10m", 600),
        ("1h30m", 5400),
        ("2d", 172800),
        (5, 5),
        ("0s", 0),
    ],
)
def test_parses_units(text: str | int, seconds: float) -> None:
    """Each unit and a combination of units read as the seconds they mean."""
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "10", "-5s", "5 minutes", "1h 30m", "1.5.2s", "ms", True])
def test_refuses_what_is_not_a_duration(text: str) -> None:
    """Bare strings, negatives and prose are refused with the expected form in the message."""
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**9))
def test_format_reads_back(millis: int) -> None:
    """What format_duration writes, parse_duration reads back to the same value."""
    value = timedelta(milliseconds=millis)
    assert parse_duration(format_duration(value)) == value
