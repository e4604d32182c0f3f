"""Unit tests do not wait on the clock: what takes time is simulated (a virtual timer, a
controlled clock) or belongs in tests/integration. Each test here fails if it calls time.sleep,
and has a short timeout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
UNIT_TIMEOUT_S = 60  # every test has one (pyproject.toml); a unit test, a shorter one


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UNIT_TIMEOUT_S))


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """time.sleep, from the test or the code it runs, fails the test."""

    def sleep(seconds: float) -> None:
        raise AssertionError(f"a unit test slept ({seconds} s): simulate the time instead")

    monkeypatch.setattr(time, "sleep", sleep)
