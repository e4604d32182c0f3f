"""Stop conditions asked: the engine's guard, and the start-up check of PromQL queries.

A PromQL condition is breached when its instant query returns any sample (as an alerting rule
fires); an HTTP condition when its probe fails. When Prometheus cannot answer, `onError` decides.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import structlog

from chaosmonkey.durations import format_duration
from chaosmonkey.errors import PolicyError, PolicyErrors
from chaosmonkey.policy.models import HttpProbe, Policy, Probe
from chaosmonkey.policy.stopconditions import HttpCondition, PromqlCondition, StopCondition
from chaosmonkey.recovery.probes import probe_once

log = structlog.get_logger("chaosmonkey.guards.conditions")

QUERY_TIMEOUT_S = 2.0
CACHE_TTL_S = 1.0  # the engine asks every 0.25 s during an attack; Prometheus about once a second
SHOWN_VALUES = 3

Evaluate = Callable[[StopCondition, int], str | None]


class PrometheusError(Exception):
    """Prometheus gave no usable answer; `str(error)` says why in a few words."""


class QueryRejected(PrometheusError):
    """Prometheus answered the query with an error (`error_type`: bad_data, execution...)."""

    def __init__(self, error_type: str, error: str) -> None:
        self.error_type, self.reason = error_type, f"{error_type}: {one_line(error)}"
        super().__init__(f"Prometheus rejected the query: {self.reason}")


class WrongResultType(PrometheusError):
    """The query returns neither an instant vector nor a scalar (a range vector, a string)."""


def instant_query(promql: PromqlCondition) -> list[float]:
    """The sample values `promql.query` returns now; a scalar counts as one sample."""
    body = _ask(promql)
    if body.get("status") != "success":
        raise QueryRejected(str(body.get("errorType")), str(body.get("error")))
    try:
        kind, result = body["data"]["resultType"], body["data"]["result"]
        if kind == "vector":
            return [float(sample["value"][1]) for sample in result]
        if kind == "scalar":
            return [float(result[1])]
    except (KeyError, IndexError, TypeError, ValueError):
        raise PrometheusError(f"Prometheus at {promql.url} gave no query result") from None
    raise WrongResultType(f"expected an instant vector or a scalar, the query returns a {kind}")


def _ask(promql: PromqlCondition) -> dict[str, Any]:
    endpoint = f"{promql.url.rstrip('/')}/api/v1/query"
    params = {"query": promql.query, "timeout": f"{QUERY_TIMEOUT_S:g}s"}
    try:
        response = requests.get(endpoint, params=params, timeout=QUERY_TIMEOUT_S)
    except requests.RequestException as error:
        raise PrometheusError(f"Prometheus at {promql.url} unreachable ({_short(error)})") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PrometheusError(
            f"Prometheus at {promql.url} gave no query result (HTTP {response.status_code})"
        )
    return body


def _short(error: requests.RequestException) -> str:
    """A few words for a requests error, whose text runs over several nested reprs."""
    if isinstance(error, requests.Timeout):
        return f"no answer within {QUERY_TIMEOUT_S:g}s"
    found = re.search(r"\[Errno -?\d+\] ([^'\"()]+)", str(error))
    return found.group(1).strip().lower() if found else type(error).__name__


def one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines too) made one space."""
    return " ".join(text.split())


def breached_message(label: str, query: str, values: list[float]) -> str:
    """Why a PromQL condition holds an attack back: its query returned `values`."""
    shown = ", ".join(f"{value:g}" for value in values[:SHOWN_VALUES])
    more = ", ..." if len(values) > SHOWN_VALUES else ""
    noun = "value" if len(values) == 1 else "values"
    return (
        f"stop condition {label} breached: {one_line(query)} returned "
        f"{len(values)} sample(s) ({noun} {shown}{more})"
    )


def error_message(label: str, error: PrometheusError) -> str:
    """Why a PromQL condition Prometheus could not answer holds an attack back (onError: breach)."""
    return f"stop condition {label}: {error}: treated as a breach (onError: breach)"


def http_breached_message(label: str, http: HttpCondition) -> str:
    """Why an HTTP condition holds an attack back."""
    timeout = format_duration(http.timeout)
    return (
        f"stop condition {label} breached: {http.url} did not answer "
        f"{http.expect_status} within {timeout}"
    )


def evaluate(condition: StopCondition, index: int) -> str | None:
    """Why `condition` (the policy's `index`th) holds an attack back now, or None."""
    label = condition.label(index)
    if condition.http is not None:
        answered = _http_answers(condition.http)
        return None if answered else http_breached_message(label, condition.http)
    assert condition.promql is not None
    return _promql_verdict(label, condition.promql, condition.on_error)


def _promql_verdict(label: str, promql: PromqlCondition, on_error: str) -> str | None:
    try:
        values = instant_query(promql)
    except PrometheusError as error:
        if on_error == "breach":
            return error_message(label, error)
        log.warning("stop_condition_unknown", condition=label, error=str(error), on_error=on_error)
        return None
    return breached_message(label, promql.query, values) if values else None


def _http_answers(http: HttpCondition) -> bool:
    check = HttpProbe(url=http.url, expect_status=http.expect_status)
    return probe_once(Probe(http=check, timeout=http.timeout))


class StopConditionGuard:
    """The engine's guard: the first breached stop condition of a policy, or None. Each verdict
    is kept for `ttl_s`, and a condition is asked by one thread at a time."""

    def __init__(
        self,
        evaluate: Evaluate = evaluate,
        ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._evaluate, self._ttl_s, self._clock = evaluate, ttl_s, clock
        self._verdicts: dict[tuple[StopCondition, int], tuple[float, str | None]] = {}
        self._locks: dict[tuple[StopCondition, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, policy: Policy) -> str | None:
        conditions = enumerate(policy.spec.stop_conditions)
        return next((reason for i, c in conditions if (reason := self._verdict(c, i))), None)

    def _verdict(self, condition: StopCondition, index: int) -> str | None:
        key = (condition, index)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._verdicts.get(key)
            if cached is not None and self._clock() - cached[0] < self._ttl_s:
                return cached[1]
            asked = self._clock()
            reason = self._evaluate(condition, index)
            self._verdicts[key] = (asked, reason)
            return reason


def check_queries(policies: list[Policy]) -> None:
    """Raises PolicyErrors naming each PromQL query its Prometheus rejects as malformed. An
    unreachable Prometheus is no error here: at attack time, onError decides."""
    errors = [error for policy in policies for error in _query_errors(policy)]
    if errors:
        raise PolicyErrors(errors)


def _query_errors(policy: Policy) -> list[PolicyError]:
    errors = []
    for index, condition in enumerate(policy.spec.stop_conditions):
        problem = _query_problem(condition, index)
        if problem:
            field = f"spec.stopConditions[{index}].promql.query"
            errors.append(PolicyError(policy.source, f"{field}: {problem}"))
    return errors


def _query_problem(condition: StopCondition, index: int) -> str | None:
    if condition.promql is None:
        return None
    try:
        instant_query(condition.promql)
    except QueryRejected as error:
        return f"Prometheus rejected it: {error.reason}" if error.error_type == "bad_data" else None
    except WrongResultType as error:
        return str(error)
    except PrometheusError as error:
        label = condition.label(index)
        log.warning("stop_condition_not_checked", condition=label, error=str(error))
    return None
