"""Polling for a condition in tests, failing with what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_until(
    condition: Callable[[], bool], what: str, timeout_s: float = 10.0, interval_s: float = 0.02
) -> None:
    """Polls `condition` every `interval_s`; fails the test naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
