"""What a network fault changes in a namespace: pure, from the fault spec and resolved peers."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from chaosmonkey.netfaults import rules
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import ProxySpec
from chaosmonkey.netfaults.rules import Change
from chaosmonkey.policy.network import (
    BandwidthFault,
    HttpErrorFault,
    LatencyFault,
    NetworkFault,
    PacketLossFault,
    PartitionFault,
)

DEVICE = "eth0"  # a container's interface on its network
PROXY_MARK = 0xC4A0  # the fault proxy's own sockets: never redirected to itself
_PROXY_PORTS = (39000, 1000)  # the proxy listens in the target's namespace at 39000-39999


def changes_for(
    fault: NetworkFault, tag: str, peers: Sequence[Destination]
) -> tuple[list[Change], ProxySpec | None]:
    """The rules (and the proxy, for latency and HTTP errors) that make `fault` happen."""
    if isinstance(fault, PartitionFault):
        return list(rules.partition(tag, peers, fault.mode, fault.direction)), None
    if isinstance(fault, PacketLossFault):
        return list(rules.packet_loss(tag, peers, fault.percent, fault.direction)), None
    if isinstance(fault, BandwidthFault):
        return [rules.bandwidth(tag, DEVICE, fault.rate)], None
    proxy = ProxySpec(proxy_port(tag), PROXY_MARK, _toxic(fault))
    return list(rules.redirect(tag, peers, proxy.port, PROXY_MARK)), proxy


def proxy_port(tag: str) -> int:
    """A port per attack, so that two faults on one target do not collide."""
    base, size = _PROXY_PORTS
    return base + zlib.crc32(tag.encode()) % size


def _toxic(fault: LatencyFault | HttpErrorFault) -> dict[str, Any]:
    if isinstance(fault, LatencyFault):
        return {
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": {
                "latency_ms": fault.delay.total_seconds() * 1000,
                "jitter_ms": fault.jitter.total_seconds() * 1000,
            },
        }
    return {
        "type": "http_status",
        "stream": "upstream",
        "toxicity": fault.percent / 100,
        "attributes": {"status": fault.status},
    }
