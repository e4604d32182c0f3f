"""What the node agent refuses, whoever asks with its token: the limits it was started with.

The agent checks them itself, from what it finds on its node, never from the caller's say-so: a
pod's namespace comes from the kubelet's pod log directories (`sandbox.pod_namespace`), a host
network from the pod's namespace being the node's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from chaosmonkey.durations import format_duration, parse_duration
from chaosmonkey.errors import ChaosMonkeyError, PolicyError
from chaosmonkey.faults.network import KEEPER_GRACE_S

ALWAYS_REFUSED = frozenset({"kube-system"})  # whatever the agent's options say
DEFAULT_MAX_DURATION = "1h"


class Refused(ChaosMonkeyError):
    """A request the agent's limits forbid: HTTP 403 with `reason`."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AgentLimits:
    """`namespaces` empty: any namespace but kube-system and the agent's own; else only those
    listed (kube-system never)."""

    own_namespace: str | None = None
    namespaces: frozenset[str] = frozenset()
    allow_host_network: bool = False
    max_duration_s: float = 3600.0

    @classmethod
    def from_options(
        cls,
        own_namespace: str | None,
        namespaces: Iterable[str],
        allow_host_network: bool,
        max_duration: str,
    ) -> AgentLimits:
        """From the agent command's options; PolicyError naming the option when one is bad."""
        try:
            max_duration_s = parse_duration(max_duration).total_seconds()
        except ValueError as error:
            raise PolicyError("--max-duration", str(error)) from None
        if max_duration_s <= 0:
            raise PolicyError(
                "--max-duration", f"expected a duration above zero, got {max_duration!r}"
            )
        listed = frozenset(n.strip() for text in namespaces for n in text.split(",") if n.strip())
        return cls(own_namespace or None, listed, allow_host_network, max_duration_s)

    def check_duration(self, duration_s: float) -> None:
        """Refuses a hold longer than the maximum (and the keeper's grace the monkey adds)."""
        if duration_s > self.max_duration_s + KEEPER_GRACE_S:
            limit = format_duration(timedelta(seconds=self.max_duration_s))
            raise Refused(
                f"duration_s {duration_s:g}: over the agent's maximum of {limit} (--max-duration)",
                "duration",
            )

    def check_namespace(self, pod_uid: str, namespace: str | None, where: str) -> None:
        """Refuses a pod whose namespace is unknown, kube-system, or not allowed."""
        if namespace is None:
            raise Refused(
                f"pod {pod_uid}: its namespace cannot be told (no {where}/<namespace>_<name>_"
                f"{pod_uid} directory of the kubelet's; --pod-logs-dir)",
                "namespace",
            )
        if namespace in ALWAYS_REFUSED:
            raise Refused(f"pod {pod_uid} is in namespace {namespace}: never attacked", "namespace")
        if self.namespaces and namespace not in self.namespaces:
            allowed = ", ".join(sorted(self.namespaces))
            raise Refused(
                f"pod {pod_uid} is in namespace {namespace}: not one the agent allows "
                f"(--namespaces {allowed})",
                "namespace",
            )
        if not self.namespaces and namespace == self.own_namespace:
            raise Refused(
                f"pod {pod_uid} is in the agent's own namespace {namespace}: list it in "
                "--namespaces to allow it",
                "namespace",
            )

    def host_network_allowed(self, asked: bool) -> bool:
        """The node's own network: only when the fault asks and the agent allows it."""
        return asked and self.allow_host_network
