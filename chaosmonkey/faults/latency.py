"""`latency`: the TCP connections `direction` names (those the target opens, to the destinations;
those opened to it, to its `ports`; or both) are redirected through the fault proxy in its
namespace, which delays the answers (what comes back to whoever opened the connection) by
`delay` (± `jitter`); no netem needed. Connections open before the fault keep their way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

from chaosmonkey.faults.base import register_fault
from chaosmonkey.faults.network import ReachingFault, through_proxy
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import ProxySpec
from chaosmonkey.netfaults.rules import Change
from chaosmonkey.schema import Duration, PositiveDuration


@register_fault
class LatencyFault(ReachingFault):
    type: Literal["latency"]
    delay: PositiveDuration
    jitter: Duration = timedelta(0)

    def changes(
        self, tag: str, peers: Sequence[Destination]
    ) -> tuple[list[Change], ProxySpec | None]:
        delay_ms, jitter_ms = (value.total_seconds() * 1000 for value in (self.delay, self.jitter))
        return through_proxy(
            tag,
            self.reach(peers),
            {
                "type": "latency",
                "stream": "downstream",
                "toxicity": 1.0,
                "attributes": {"latency_ms": delay_ms, "jitter_ms": jitter_ms},
            },
        )
