"""Kubernetes Events for attacks, so that `kubectl describe pod` and `kubectl get events` show
what the monkey did to a pod, as other chaos tools do.

Each event is a core/v1 Event in the pod's namespace, its involvedObject the pod (with its uid),
created once the change succeeded. The attack's id and its policy's name are the ones the engine
binds to the attack's log context; without a policy (a revert by a new process), the message
names the attack alone. An event
that cannot be created (no RBAC right, the API away) never fails the attack and holds it up at most
for a short timeout: one warning per namespace, and the attack goes on.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from chaosmonkey.backends.kubernetes.api import KubeApi
from chaosmonkey.backends.kubernetes.errors import CLIENT_ERRORS, Rule, translate
from chaosmonkey.model import Target

log = structlog.get_logger("chaosmonkey.backends.kubernetes")

COMPONENT = "chaosmonkey"
WARNING, NORMAL = "Warning", "Normal"
TIMEOUT_S = (2.0, 3.0)  # connect, read: an event is never worth holding an attack up
MAX_NOTE = 1024  # the API's limit on an event's message
MAX_INSTANCE = 128  # and on reportingInstance
MAX_NAME = 253


@dataclass(frozen=True)
class AttackEvent:
    """What happened to a pod: `reason` (CamelCase, for filtering), the `action` taken, and a
    `note` completing "chaosmonkey policy P (attack A) ..."."""

    reason: str
    action: str
    note: str
    type: str = WARNING


def killed(grace_period_s: int) -> AttackEvent:
    return AttackEvent(
        "ChaosMonkeyKill", "Kill", f"deleted the pod, grace period {grace_period_s}s"
    )


def evicted(grace_period_s: int | None) -> AttackEvent:
    grace = "its own grace period" if grace_period_s is None else f"grace period {grace_period_s}s"
    return AttackEvent("ChaosMonkeyEvict", "Evict", f"evicted the pod (Eviction API), {grace}")


def eviction_refused(message: str) -> AttackEvent:
    """Nothing changed: the pod's disruption budget held, which is worth seeing too."""
    return AttackEvent(
        "ChaosMonkeyEvictionRefused",
        "Evict",
        f"asked to evict the pod; the API refused, the pod is untouched: {message}",
        NORMAL,
    )


def network_fault(fault: str, duration_s: float, node: str) -> AttackEvent:
    return AttackEvent(
        "ChaosMonkeyNetworkFault",
        "NetworkFault",
        f"applied a {fault} network fault for {duration_s:g}s (node agent on {node})",
    )


def network_reverted(fault: str) -> AttackEvent:
    return AttackEvent(
        "ChaosMonkeyReverted", "Revert", f"reverted the {fault} network fault", NORMAL
    )


def event_body(
    target: Target,
    event: AttackEvent,
    attack_id: str,
    policy: str | None,
    now: datetime,
    instance: str,
) -> dict[str, Any]:
    """The core/v1 Event: eventTime (a MicroTime) with the reporting fields the API requires
    with it, and first/lastTimestamp with count 1 for clients that read only those."""
    namespace = str(target.namespace)
    by = (
        f"chaosmonkey policy {policy} (attack {attack_id})"
        if policy
        else f"chaosmonkey attack {attack_id}"
    )
    seconds = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(target.name, now), "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": target.name,
            "namespace": namespace,
            "uid": target.id,
        },
        "type": event.type,
        "reason": event.reason,
        "action": event.action,
        "message": f"{by} {event.note}"[:MAX_NOTE],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance[:MAX_INSTANCE],
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "firstTimestamp": seconds,
        "lastTimestamp": seconds,
        "count": 1,
    }


def event_name(pod: str, now: datetime) -> str:
    """`pod.<nanoseconds in hex>`, as the Kubernetes event recorders name theirs."""
    suffix = f".{int(now.timestamp() * 1e9):x}"
    return pod[: MAX_NAME - len(suffix)].rstrip("-.") + suffix


class EventRecorder:
    """Creates attack events; never raises."""

    def __init__(self, api: KubeApi, instance: str | None = None) -> None:
        self._api = api
        self._instance = instance or socket.gethostname() or COMPONENT
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def record(self, target: Target, event: AttackEvent) -> None:
        """Creates the event on `target`'s pod; a failure is logged, once per namespace. The
        attack and its policy are the ones the engine bound to the log context."""
        namespace = str(target.namespace)
        context = structlog.contextvars.get_contextvars()
        policy, attack_id = context.get("policy"), str(context.get("attack_id") or "?")
        now = datetime.fromtimestamp(time.time(), UTC)
        body = event_body(target, event, attack_id, policy, now, self._instance)
        api = self._api
        try:
            api.json(api.core.create_namespaced_event, namespace, body, _request_timeout=TIMEOUT_S)
        except CLIENT_ERRORS as error:
            rule = Rule("create", "events", "", namespace)
            what = f"creating event {event.reason} on pod {namespace}/{target.name}"
            reason = translate(error, what=what, url=api.url, rule=rule)
            self._warn_once(namespace, event.reason, str(reason))

    def _warn_once(self, namespace: str, reason: str, error: str) -> None:
        with self._lock:
            if namespace in self._warned:
                log.debug("event_not_created", namespace=namespace, reason=reason, error=error)
                return
            self._warned.add(namespace)
        log.warning("event_not_created", namespace=namespace, reason=reason, error=error)
