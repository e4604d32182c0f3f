"""Guards that decide whether an attack may run now."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from chaosmonkey.policy.models import DAYS, Window


def window_closed_reason(window: Window | None, now: datetime) -> str | None:
    """None when `now` (timezone-aware) is inside the window; else why it is not."""
    if window is None:
        return None
    local = now.astimezone(ZoneInfo(window.timezone))
    if any(blackout.covers(local.date()) for blackout in window.blackout):
        return f"outside the window: {local.date().isoformat()} is a blackout day"
    day = DAYS[local.weekday()]
    if day not in window.days:
        return f"outside the window: {day} is not one of {', '.join(window.days)}"
    clock = local.time().replace(tzinfo=None)
    if not window.start <= clock < window.end:
        return (
            f"outside the window: {clock:%H:%M} {window.timezone} is not within "
            f"{window.start:%H:%M}-{window.end:%H:%M}"
        )
    return None
