"""Unit tests do not wait on the clock: what takes time is simulated (a virtual timer, a
controlled clock) or belongs in tests/integration. Each test here fails if it, or the monkey's
code it runs, calls time.sleep (the standard library's own polling, such as a subprocess's
wait, is let through), and has a short timeout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
OURS = (HERE.parents[1] / "chaosmonkey", HERE.parent)  # the monkey's code and the tests
UNIT_TIMEOUT_S = 60  # every test has one (pyproject.toml); a unit test, a shorter one


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UNIT_TIMEOUT_S))


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """time.sleep from a test or from chaosmonkey fails the test."""
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        caller = Path(sys._getframe(1).f_code.co_filename).resolve()
        if any(caller.is_relative_to(ours) for ours in OURS):
            raise AssertionError(f"{caller} slept {seconds} s in a unit test: simulate the time")
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
