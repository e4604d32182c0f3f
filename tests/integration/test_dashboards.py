"""The Grafana dashboard: well formed, and every panel query runs on a real Prometheus."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaosmonkey.metrics import Metrics
from chaosmonkey.model import (
    AttackRecord,
    Outcome,
    ServiceImpact,
    ServiceObservation,
    Target,
)
from tests.prometheus import PrometheusHandle, StartPrometheus, values

DASHBOARD = json.loads((Path(__file__).parents[2] / "dashboards" / "chaosmonkey.json").read_text())
PANELS: list[dict[str, Any]] = DASHBOARD["panels"]
TARGETS = [(panel, target) for panel in PANELS for target in panel.get("targets", [])]
VARIABLES = {variable["name"]: variable for variable in DASHBOARD["templating"]["list"]}
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__range": "1h", "__interval": "15s"}
ALL_VALUES = {"policy": ".*", "backend": ".*", **GRAFANA_BUILTINS}
VARIABLE_REF = re.compile(r"\$\{?(\w+)\}?")
LABEL_VALUES = re.compile(r"label_values\((\w+),\s*(\w+)\)")

# Before the first scrape, then after it, so rate() and increase() see a change.
Attack = tuple[str, str, str, Outcome, float | None]  # policy, fault, backend, outcome, recovery_s
EARLY: list[Attack] = [
    ("web-kill", "kill", "docker", Outcome.RECOVERED, 2.0),
    ("api-latency", "latency", "kubernetes", Outcome.RECOVERED, 5.0),
]
LATE: list[Attack] = [
    ("web-kill", "kill", "docker", Outcome.RECOVERED, 3.0),
    ("web-kill", "kill", "docker", Outcome.NOT_RECOVERED, None),
    ("api-latency", "latency", "kubernetes", Outcome.FAILED, None),
    ("api-latency", "latency", "kubernetes", Outcome.RECOVERED, 8.0),
]


def record(
    policy: str, fault: str, backend: str, outcome: Outcome, recovery_s: float | None
) -> AttackRecord:
    """An ended attack detected 0.5 s after injection, recovered after `recovery_s` if given; its
    target back then too. The latency policy probes its service: degraded, back at the same
    moment."""
    recovered_at = None if recovery_s is None else 100.0 + recovery_s
    service = (
        ServiceObservation(ServiceImpact.DEGRADED, 100.5, recovered_at, (recovery_s or 20) - 0.5)
        if fault == "latency"
        else None
    )
    return AttackRecord(
        id="a1",
        policy=policy,
        backend=backend,
        fault=fault,
        target=Target(backend=backend, id="3f2a9c", name="web-1", group="web"),
        dry_run=False,
        outcome=outcome,
        injected_at=100.0,
        detected_at=100.5,
        recovered_at=recovered_at,
        target_detected_at=100.1,
        target_recovered_at=recovered_at,
        service=service,
    )


def substitute(expr: str, variables: dict[str, str]) -> str:
    """The expression as Grafana would send it, with template variables replaced."""
    return VARIABLE_REF.sub(lambda match: variables[match.group(1)], expr)


def target_id(item: tuple[dict[str, Any], dict[str, Any]]) -> str:
    panel, target = item
    return f"{panel['title']}-{target['refId']}"


@pytest.fixture(scope="module")
def populated(prometheus: StartPrometheus) -> Iterator[PrometheusHandle]:
    """Prometheus after two scrapes of an exporter holding six attacks and one active fault."""
    metrics = Metrics(active_faults=lambda: {"docker": 1})
    for attack in EARLY:
        metrics.attack_finished(record(*attack))
    server = metrics.serve(0, "127.0.0.1")
    try:
        handle = prometheus([f"127.0.0.1:{server.port}"])
        handle.wait_for("chaosmonkey_attacks_total", bool, timeout=20)
        for attack in LATE:
            metrics.attack_finished(record(*attack))
        metrics.runs_missed("web-kill")
        total = len(EARLY) + len(LATE)
        handle.wait_for(
            "sum(chaosmonkey_attacks_total)", lambda r: bool(r) and float(r[0]["value"][1]) == total
        )
        yield handle
    finally:
        server.shutdown()


def test_panel_ids_are_unique() -> None:
    """No two panels share an id."""
    ids = [panel["id"] for panel in PANELS]
    assert len(ids) == len(set(ids)), ids


def test_dashboard_header() -> None:
    """A recent schema, a stable uid and a title, so imports overwrite rather than duplicate."""
    assert DASHBOARD["schemaVersion"] >= 36
    assert DASHBOARD["uid"] == "chaosmonkey"
    assert DASHBOARD["title"]


@pytest.mark.parametrize("panel", PANELS, ids=[panel["title"] for panel in PANELS])
def test_panel_is_complete(panel: dict[str, Any]) -> None:
    """Each panel reads the data source variable, has queries, and fits the 24-column grid."""
    assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    assert panel["targets"], "no targets"
    for target in panel["targets"]:
        assert target["expr"]
        assert target["refId"]
        assert target["datasource"] == panel["datasource"]
    grid = panel["gridPos"]
    assert {"x", "y", "w", "h"} <= grid.keys()
    assert grid["x"] >= 0
    assert grid["x"] + grid["w"] <= 24
    assert grid["h"] > 0


def test_variables_are_defined() -> None:
    """The data source, policy and backend variables exist, the last two multi-valued."""
    assert VARIABLES["DS_PROMETHEUS"]["type"] == "datasource"
    assert VARIABLES["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("policy", "backend"):
        assert VARIABLES[name]["type"] == "query"
        assert VARIABLES[name]["multi"]
        assert VARIABLES[name]["includeAll"]
        assert VARIABLES[name]["allValue"] == ".*"


def test_expressions_use_only_defined_variables() -> None:
    """Every $variable in a query is a dashboard variable or a Grafana built-in."""
    used = {name for _, target in TARGETS for name in VARIABLE_REF.findall(target["expr"])}
    assert used, "no panel is filtered by a variable"
    assert used <= VARIABLES.keys() | GRAFANA_BUILTINS.keys()


@pytest.mark.prometheus
@pytest.mark.parametrize("name", ["policy", "backend"])
def test_variable_values_come_from_prometheus(populated: PrometheusHandle, name: str) -> None:
    """Each variable's label_values() finds the labels the exporter set."""
    match = LABEL_VALUES.fullmatch(VARIABLES[name]["query"]["query"])
    assert match, VARIABLES[name]["query"]
    metric, label = match.groups()
    found = values(populated.query(f"count by ({label}) ({metric})"), label)
    expected = {attack[0 if name == "policy" else 2] for attack in EARLY + LATE}
    assert found.keys() == expected


@pytest.mark.prometheus
@pytest.mark.parametrize("item", TARGETS, ids=[target_id(item) for item in TARGETS])
def test_panel_query_returns_data(
    populated: PrometheusHandle, item: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """With every variable at All, each panel query succeeds and returns numbers."""
    _, target = item
    result = populated.query(substitute(target["expr"], ALL_VALUES))
    assert result, f"no series for {target['expr']}"
    assert all(math.isfinite(float(sample["value"][1])) for sample in result), result


@pytest.mark.prometheus
def test_attacks_panel_filters_by_concrete_values(populated: PrometheusHandle) -> None:
    """The attacks-by-outcome query keeps only the chosen policy's outcomes."""
    expr = next(t["expr"] for p, t in TARGETS if "chaosmonkey_attacks_total" in t["expr"])
    chosen = {**ALL_VALUES, "policy": "web-kill", "backend": "docker"}
    per_minute = values(populated.query(substitute(expr, chosen)), "outcome")
    assert per_minute.keys() == {o.value for o in Outcome}
    assert per_minute["recovered"] > 0
    assert per_minute["not_recovered"] > 0
    assert per_minute["failed"] == 0  # only api-latency failed


@pytest.mark.prometheus
def test_missed_runs_panel_counts_the_chosen_policys_misses(populated: PrometheusHandle) -> None:
    """The missed-runs query sees web-kill's missed run, and none for api-latency."""
    expr = next(t["expr"] for p, t in TARGETS if "chaosmonkey_runs_missed_total" in t["expr"])
    missed = {
        policy: float(
            populated.query(substitute(expr, {**ALL_VALUES, "policy": policy}))[0]["value"][1]
        )
        for policy in ("web-kill", "api-latency")
    }
    assert missed["web-kill"] >= 1
    assert missed["api-latency"] == 0
