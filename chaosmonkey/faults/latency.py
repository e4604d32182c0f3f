"""`latency`: the target's TCP connections to the destinations are redirected through the fault
proxy in its namespace, which delays what comes back by `delay` (± `jitter`); no netem needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

from chaosmonkey.faults.base import register_fault
from chaosmonkey.faults.network import PROXY_MARK, NetworkFault, proxy_port
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import ProxySpec
from chaosmonkey.netfaults.rules import Change, redirect
from chaosmonkey.schema import Duration, PositiveDuration


@register_fault
class LatencyFault(NetworkFault):
    type: Literal["latency"]
    delay: PositiveDuration
    jitter: Duration = timedelta(0)

    def changes(
        self, tag: str, peers: Sequence[Destination]
    ) -> tuple[list[Change], ProxySpec | None]:
        toxic = {
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": {
                "latency_ms": self.delay.total_seconds() * 1000,
                "jitter_ms": self.jitter.total_seconds() * 1000,
            },
        }
        proxy = ProxySpec(proxy_port(tag), PROXY_MARK, toxic)
        return list(redirect(tag, peers, proxy.port, PROXY_MARK)), proxy
