"""Shared fixtures: a real Prometheus, started on demand."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from tests.prometheus import (
    PROMETHEUS_BIN,
    PrometheusHandle,
    StartPrometheus,
    running_prometheus,
)

pytest_plugins = ["tests.kubesim.fixtures"]


@pytest.fixture(autouse=True, scope="session")
def a_journal_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test touches the machine's own journal (/var/lib/chaosmonkey for root): a command run
    without --db, and every process it starts, uses one of the session's."""
    default = tmp_path_factory.mktemp("journal") / "chaosmonkey.db"
    os.environ.setdefault("CHAOSMONKEY_DB", str(default))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartPrometheus]:
    """Starts Prometheus instances scraping the given targets; all stop at the module's end.

    Skips when the binary is missing, unless CHAOSMONKEY_REQUIRE_PROMETHEUS=1 makes that a failure.
    """
    if not PROMETHEUS_BIN.exists():
        reason = f"{PROMETHEUS_BIN} not found"
        if os.environ.get("CHAOSMONKEY_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"{reason} and CHAOSMONKEY_REQUIRE_PROMETHEUS=1")
        pytest.skip(reason)
    with contextlib.ExitStack() as stack:

        def start(scrape_targets: list[str], scrape_interval: str = "1s") -> PrometheusHandle:
            tmp_path = tmp_path_factory.mktemp("prometheus")
            return stack.enter_context(
                running_prometheus(tmp_path, scrape_targets, scrape_interval)
            )

        yield start
