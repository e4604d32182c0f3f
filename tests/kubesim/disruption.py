"""PodDisruptionBudgets: their status, as the disruption controller computes it, and the eviction
check the API server makes against them (policy/v1 rules, counting Ready pods)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from tests.kubesim import objects
from tests.kubesim.controllers import is_ready
from tests.kubesim.selectors import from_label_selector, matches
from tests.kubesim.status import ApiError
from tests.kubesim.store import Store

Obj = dict[str, Any]
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


class Disruption:
    """Keeps every PodDisruptionBudget's status current as pods change."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self._dirty: set[str] = set()  # namespaces whose budgets need a new status
        self._writing = False
        store.add_listener(self._on_change)

    def _on_change(self, kind: str, resource: str, obj: Obj) -> None:
        if resource not in ("pods", "poddisruptionbudgets") or self._writing:
            return
        namespace = obj["metadata"]["namespace"]
        if not self._dirty:
            self.loop.call_soon(self._flush)
        self._dirty.add(namespace)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for namespace in dirty:
            for budget in self.store.iter_namespace("poddisruptionbudgets", namespace):
                self.refresh(budget)

    def refresh(self, budget: Obj) -> None:
        """Writes the budget's status if it changed."""
        status = budget_status(self.store, budget, budget.get("status"))
        if status != budget.get("status"):
            budget["status"] = status
            self._writing = True
            try:
                self.store.modified("poddisruptionbudgets", budget)
            finally:
                self._writing = False

    def check_eviction(self, pod: Obj) -> None:
        """Raises the API server's refusal if evicting `pod` would break its budget."""
        if _ignores_budgets(pod):
            return
        budgets = budgets_for(self.store, pod)
        if not budgets:
            return
        if len(budgets) > 1:
            message = (
                "This pod has more than one PodDisruptionBudget, which the eviction "
                "subresource does not support."
            )
            raise ApiError(500, "InternalError", message)
        budget = budgets[0]
        status = budget_status(self.store, budget, budget.get("status"))
        healthy, desired = status["currentHealthy"], status["desiredHealthy"]
        if not is_ready(pod):
            policy = budget["spec"].get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
            if policy == "AlwaysAllow" or healthy >= desired:
                return
        if status["disruptionsAllowed"] <= 0:
            name = budget["metadata"]["name"]
            cause = (
                f"The disruption budget {name} needs {desired} healthy pods "
                f"and has {healthy} currently"
            )
            details = {"causes": [{"reason": "DisruptionBudget", "message": cause}]}
            raise ApiError(429, "TooManyRequests", VIOLATION, details)


def _ignores_budgets(pod: Obj) -> bool:
    """Pods the eviction deletes without asking budgets: pending, ended, or terminating."""
    phase = pod.get("status", {}).get("phase")
    return phase in ("Pending", "Succeeded", "Failed") or "deletionTimestamp" in pod["metadata"]


def budgets_for(store: Store, pod: Obj) -> list[Obj]:
    """The budgets of the pod's namespace whose selector matches it."""
    labels = pod["metadata"].get("labels") or {}
    found = []
    for budget in store.iter_namespace("poddisruptionbudgets", pod["metadata"]["namespace"]):
        selector = from_label_selector(budget["spec"].get("selector"))
        if selector is not None and matches(selector, labels):
            found.append(budget)
    return found


def budget_status(store: Store, budget: Obj, previous: Obj | None) -> Obj:
    """The status the disruption controller would write for `budget` now."""
    spec = budget["spec"]
    selector = from_label_selector(spec.get("selector"))
    namespace = budget["metadata"]["namespace"]
    pods = [
        pod
        for pod in store.iter_namespace("pods", namespace)
        if selector is not None and matches(selector, pod["metadata"].get("labels") or {})
    ]
    expected, desired = _expectations(store, spec, pods)
    healthy = sum(1 for pod in pods if is_ready(pod) and "deletionTimestamp" not in pod["metadata"])
    allowed = max(0, healthy - desired)
    generation = budget["metadata"].get("generation", 1)
    return {
        "observedGeneration": generation,
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [_condition(allowed, generation, previous)],
    }


def _expectations(store: Store, spec: Obj, pods: list[Obj]) -> tuple[int, int]:
    """(expected pods, desired healthy) from minAvailable or maxUnavailable."""
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    if max_unavailable is None and not isinstance(min_available, str):
        return len(pods), int(min_available or 0)
    expected = _scale(store, pods)
    if max_unavailable is not None:
        return expected, max(0, expected - _resolve(max_unavailable, expected))
    return expected, _resolve(min_available or 0, expected)


def _resolve(value: int | str, total: int) -> int:
    """An int, or a percentage of `total` rounded up."""
    if isinstance(value, int):
        return value
    return math.ceil(int(value.rstrip("%")) * total / 100)


def _scale(store: Store, pods: list[Obj]) -> int:
    """The replicas the pods' controllers want, each controller counted once; 1 per bare pod."""
    total, seen = 0, set()
    for pod in pods:
        owner = objects.controller_of(pod)
        if owner is None:
            total += 1
            continue
        if owner["uid"] in seen:
            continue
        seen.add(owner["uid"])
        total += _replicas_of(store, pod["metadata"]["namespace"], owner)
    return total


def _replicas_of(store: Store, namespace: str, owner: Obj) -> int:
    resource = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets"}.get(owner["kind"])
    controller = store.find(resource, namespace, owner["name"]) if resource else None
    if controller is None:
        return 1
    parent = objects.controller_of(controller)
    if parent is not None and parent["kind"] == "Deployment":
        deployment = store.find("deployments", namespace, parent["name"])
        if deployment is not None:
            controller = deployment
    return int(controller["spec"].get("replicas", 1))


def _condition(allowed: int, generation: int, previous: Obj | None) -> Obj:
    status = "True" if allowed > 0 else "False"
    for entry in (previous or {}).get("conditions", []):
        if entry["type"] == "DisruptionAllowed" and entry["status"] == status:
            return dict(entry)
    return {
        "type": "DisruptionAllowed",
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": objects.now(),
        "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
        "message": "",
    }
