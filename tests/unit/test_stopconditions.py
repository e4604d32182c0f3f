"""Stop conditions: their models, their messages and the guard's cache (Prometheus itself is
asked only in tests/integration/test_stopconditions.py)."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chaosmonkey.errors import PolicyErrors
from chaosmonkey.guards import conditions
from chaosmonkey.guards.conditions import (
    PrometheusError,
    QueryRejected,
    StopConditionGuard,
    breached_message,
    check_queries,
    error_message,
    http_breached_message,
)
from chaosmonkey.policy import load_policy
from chaosmonkey.policy.models import Policy
from chaosmonkey.policy.stopconditions import HttpCondition, PromqlCondition, StopCondition

POLICY = """\
apiVersion: chaosmonkey/v1
kind: Policy
metadata:
  name: guarded
spec:
  fault: {type: kill}
  stopConditions:
"""


def load(tmp_path: Path, conditions: str) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY + textwrap.indent(textwrap.dedent(conditions), "    "))
    return load_policy(path)


def errors_of(tmp_path: Path, conditions: str) -> list[str]:
    with pytest.raises(PolicyErrors) as caught:
        load(tmp_path, conditions)
    return [str(error) for error in caught.value.errors]


def promql(query: str = "up == 0", name: str | None = None, **extra: Any) -> StopCondition:
    return StopCondition.model_validate(
        {"name": name, "promql": {"url": "http://127.0.0.1:9090", "query": query}, **extra}
    )


def test_both_kinds_load_with_their_defaults(tmp_path: Path) -> None:
    """camelCase keys load; onError defaults to breach, the HTTP timeout to 2 s, status to 200."""
    policy = load(
        tmp_path,
        """\
        - name: error-rate
          promql: {url: "http://prom:9090", query: "sum(rate(x[1m])) > 0.05"}
        - http: {url: "https://shop/healthz", expectStatus: 204}
        """,
    )
    first, second = policy.spec.stop_conditions
    assert first.promql is not None
    assert first.promql.query == "sum(rate(x[1m])) > 0.05"
    assert first.on_error == "breach"
    assert second.http == HttpCondition(
        url="https://shop/healthz", expect_status=204, timeout=timedelta(seconds=2)
    )


def test_a_policy_without_stop_conditions_has_none(tmp_path: Path) -> None:
    """The field is optional: older policies load unchanged."""
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.removesuffix("  stopConditions:\n"))
    assert load_policy(path).spec.stop_conditions == []


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (
            "- name: x\n",
            "policy.yaml:8: spec.stopConditions.0: expected exactly one of promql or http",
        ),
        (
            "- promql: {url: http://p:9090, query: up}\n  http: {url: http://s/}\n",
            "policy.yaml:8: spec.stopConditions.0: expected exactly one of promql or http",
        ),
        (
            '- promql: {url: http://p:9090, query: "  "}\n',
            "policy.yaml:8: spec.stopConditions.0.promql.query: expected a PromQL query, got an"
            " empty string",
        ),
        (
            "- promql: {url: p:9090, query: up}\n",
            "policy.yaml:8: spec.stopConditions.0.promql.url: expected an http:// or https://"
            " URL, got 'p:9090'",
        ),
        (
            "- promql: {url: http://p:9090, query: up}\n  onError: retry\n",
            "policy.yaml:9: spec.stopConditions.0.onError: Input should be 'breach' or 'ignore'",
        ),
        (
            "- http: {url: http://s/}\n  onError: ignore\n",
            "policy.yaml:8: spec.stopConditions.0: onError: applies to promql only; an http"
            " condition is breached when it fails",
        ),
        (
            "- http: {url: http://s/, timeout: 0s}\n",
            "policy.yaml:8: spec.stopConditions.0.http.timeout: expected a duration above zero",
        ),
        (
            "- promql: {url: http://p:9090, query: up, step: 1m}\n",
            "policy.yaml:8: spec.stopConditions.0.promql.step: unknown field",
        ),
    ],
)
def test_malformed_conditions_name_the_field_and_line(
    tmp_path: Path, conditions: str, expected: str
) -> None:
    """Each malformed condition is one line: file:line, the field, what was expected."""
    [error] = errors_of(tmp_path, conditions)
    assert error == f"{tmp_path}/{expected}"


def test_messages_name_the_condition_and_show_the_values() -> None:
    """A breach names the condition, the query on one line, the count and the first values."""
    assert breached_message("error-rate", "sum(x)\n  > 0.05", [0.12]) == (
        "stop condition error-rate breached: sum(x) > 0.05 returned 1 sample(s) (value 0.12)"
    )
    assert breached_message("c", "q", [1, 2, 3, 4]) == (
        "stop condition c breached: q returned 4 sample(s) (values 1, 2, 3, ...)"
    )


def test_an_unanswered_query_is_a_breach_that_says_why() -> None:
    """Unreachable or rejected: the message says so and that onError made it a breach."""
    unreachable = PrometheusError("Prometheus at http://p:9090 unreachable (connection refused)")
    assert error_message("error-rate", unreachable) == (
        "stop condition error-rate: Prometheus at http://p:9090 unreachable (connection refused):"
        " treated as a breach (onError: breach)"
    )
    rejected = QueryRejected("bad_data", "1:5: parse error:\nunexpected end")
    assert str(rejected) == (
        "Prometheus rejected the query: bad_data: 1:5: parse error: unexpected end"
    )


def test_http_breach_names_url_status_and_timeout() -> None:
    """An HTTP condition's breach says what was expected of which URL, and how fast."""
    http = HttpCondition(url="http://shop/healthz", timeout=timedelta(milliseconds=500))
    assert http_breached_message("shop-up", http) == (
        "stop condition shop-up breached: http://shop/healthz did not answer 200 within 500ms"
    )


def test_an_unnamed_condition_is_named_by_its_place() -> None:
    """Without a name, messages point at the condition's index in the policy."""
    assert promql().label(2) == "stopConditions[2]"
    assert promql(name="error-rate").label(2) == "error-rate"


def guarded(tmp_path: Path, *conditions: StopCondition) -> Policy:
    policy = load(tmp_path, "[]\n")
    spec = policy.spec.model_copy(update={"stop_conditions": list(conditions)})
    return policy.model_copy(update={"spec": spec})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_guard_asks_each_condition_once_per_interval(tmp_path: Path) -> None:
    """Within the cache interval the verdict is reused; after it, the condition is asked again."""
    asked: list[int] = []

    def evaluate(condition: StopCondition, index: int) -> str | None:
        asked.append(index)
        return None

    clock = Clock()
    guard = StopConditionGuard(evaluate, ttl_s=1.0, clock=clock)
    policy = guarded(tmp_path, promql("a"), promql("b"))
    assert guard(policy) is None
    clock.now = 0.9
    assert guard(policy) is None
    assert asked == [0, 1]
    clock.now = 1.0
    assert guard(policy) is None
    assert asked == [0, 1, 0, 1]


def test_guard_gives_the_first_breach_and_asks_no_further(tmp_path: Path) -> None:
    """The first breached condition's reason is the guard's; later ones are not asked."""
    asked: list[int] = []

    def evaluate(condition: StopCondition, index: int) -> str | None:
        asked.append(index)
        return f"breached {condition.label(index)}" if index >= 1 else None

    guard = StopConditionGuard(evaluate)
    policy = guarded(tmp_path, promql("a"), promql("b", name="second"), promql("c"))
    assert guard(policy) == "breached second"
    assert asked == [0, 1]


def test_policies_without_promql_conditions_need_no_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up check asks nothing of a policy whose conditions are HTTP only; a PromQL
    condition's query is sent to its Prometheus once (the project's own query function stands
    in for Prometheus here)."""
    asked: list[str] = []

    def instant_query(promql: PromqlCondition) -> list[float]:
        asked.append(promql.query)
        return []

    monkeypatch.setattr(conditions, "instant_query", instant_query)
    http_only = StopCondition(http=HttpCondition(url="http://127.0.0.1:9/healthz"))
    check_queries([guarded(tmp_path, http_only)])
    assert asked == []
    check_queries([guarded(tmp_path, http_only, promql("up == 0"))])
    assert asked == ["up == 0"]
