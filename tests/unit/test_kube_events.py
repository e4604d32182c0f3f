"""The Events told on attacked pods: their fields as the API server validates them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from chaosmonkey.backends.kubernetes.events import (
    MAX_NAME,
    MAX_NOTE,
    event_body,
    event_name,
    killed,
    network_fault,
    network_reverted,
)
from chaosmonkey.model import Target

SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WHOLE_SECOND = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def pod(name: str = "web-7d9f-abcde") -> Target:
    return Target("kubernetes", "uid-1", name, "shop/deployment/web", namespace="shop")


def test_the_message_names_the_policy_and_the_attack() -> None:
    """With the policy known: "chaosmonkey policy P (attack A) <what was done>"."""
    body = event_body(pod(), killed(0), "1a2b", "web-kill", WHOLE_SECOND, "monkey-0")
    assert (
        body["message"]
        == "chaosmonkey policy web-kill (attack 1a2b) deleted the pod, grace period 0s"
    )
    assert (body["type"], body["reason"], body["action"]) == ("Warning", "ChaosMonkeyKill", "Kill")


def test_without_a_policy_the_attack_alone_is_named() -> None:
    """A revert by a new process knows the attack only."""
    body = event_body(pod(), network_reverted("latency"), "1a2b", None, WHOLE_SECOND, "m")
    assert body["message"] == "chaosmonkey attack 1a2b reverted the latency network fault"
    assert body["type"] == "Normal"


def test_times_have_the_formats_the_api_parses() -> None:
    """eventTime is a MicroTime (six fractional digits, even on a whole second); the legacy
    timestamps are whole seconds."""
    body = event_body(pod(), killed(0), "a", None, WHOLE_SECOND, "m")
    assert body["eventTime"] == "2024-05-01T12:00:00.000000Z"
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2024-05-01T12:00:00Z"
    assert body["count"] == 1


def test_the_involved_object_is_the_pod_in_its_namespace() -> None:
    """The event lives in the pod's namespace, as the API requires."""
    body = event_body(pod(), killed(0), "a", None, WHOLE_SECOND, "m")
    assert body["metadata"]["namespace"] == body["involvedObject"]["namespace"] == "shop"
    assert body["involvedObject"]["uid"] == "uid-1"


def test_long_notes_are_cut_to_the_api_limit() -> None:
    """The API refuses a message over 1024 characters."""
    body = event_body(
        pod(),
        network_fault("x" * 2000, 30, "n"),
        "a",
        "p",
        WHOLE_SECOND,
        "m",
    )
    assert len(body["message"]) == MAX_NOTE


def test_names_stay_valid_for_the_longest_pod_names() -> None:
    """`pod.<hex nanoseconds>`, cut to 253 characters without a dangling '-' or '.'."""
    assert event_name("web-0", WHOLE_SECOND) == f"web-0.{int(WHOLE_SECOND.timestamp() * 1e9):x}"
    long_name = event_name("a" * 235 + "-" + "b" * 17, WHOLE_SECOND)
    assert len(long_name) <= MAX_NAME
    assert SUBDOMAIN.match(long_name)
