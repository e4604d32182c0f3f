"""Durations as users write them in policies: `250ms`, `90s`, `10m`, `1h30m`, `2d`."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """A non-negative duration; a bare number is seconds. Raises ValueError naming the format."""
    if isinstance(text, timedelta):
        seconds = text.total_seconds()
    elif isinstance(text, bool):
        raise ValueError(f"expected a duration such as 30s, 10m or 1h30m, got {text!r}")
    elif isinstance(text, int | float):
        seconds = float(text)
    elif _WHOLE.fullmatch(text.strip()):
        seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    else:
        raise ValueError(f"expected a duration such as 30s, 10m or 1h30m, got {text!r}")
    if seconds < 0:
        raise ValueError(f"expected a duration of zero or more, got {text!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest form `parse_duration` reads back: `1h30m`, `250ms`."""
    millis = round(value.total_seconds() * 1000)
    if millis % 1000:
        return f"{millis}ms"
    seconds, parts = millis // 1000, []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def whole_seconds(value: timedelta) -> int:
    """Whole seconds, rounded up: APIs that take whole seconds still give at least `value`."""
    return math.ceil(value.total_seconds())
