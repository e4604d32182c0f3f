"""`latency`: the target's TCP connections to the destinations are redirected through the fault
proxy in its namespace, which delays what comes back by `delay` (± `jitter`); no netem needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

from chaosmonkey.faults.base import register_fault
from chaosmonkey.faults.network import NetworkFault, through_proxy
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import ProxySpec
from chaosmonkey.netfaults.rules import Change
from chaosmonkey.schema import Duration, PositiveDuration


@register_fault
class LatencyFault(NetworkFault):
    type: Literal["latency"]
    delay: PositiveDuration
    jitter: Duration = timedelta(0)

    def changes(
        self, tag: str, peers: Sequence[Destination]
    ) -> tuple[list[Change], ProxySpec | None]:
        delay_ms, jitter_ms = (value.total_seconds() * 1000 for value in (self.delay, self.jitter))
        return through_proxy(
            tag,
            peers,
            {
                "type": "latency",
                "stream": "downstream",
                "toxicity": 1.0,
                "attributes": {"latency_ms": delay_ms, "jitter_ms": jitter_ms},
            },
        )
