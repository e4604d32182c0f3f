"""`bandwidth`: what the target sends on the connections `direction` names (those it opens, to the
destinations; the answers on those opened to it, to its `ports`) is capped at `rate` by an htb of
ours on its interface, the packets put in its class by iptables CLASSIFY; `both`, with neither
destinations nor ports, caps all it sends with a token bucket (tc `tbf`) as the root qdisc."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from chaosmonkey.faults.base import register_fault
from chaosmonkey.faults.network import DEVICE, Rate, ReachingFault
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import ProxySpec
from chaosmonkey.netfaults.rules import Change, shaping


@register_fault
class BandwidthFault(ReachingFault):
    type: Literal["bandwidth"]
    rate: Rate

    def changes(
        self, tag: str, peers: Sequence[Destination]
    ) -> tuple[list[Change], ProxySpec | None]:
        reach = self.reach(peers)
        everything = reach.direction == "both" and not reach.destinations and not reach.ports
        return shaping(tag, DEVICE, self.rate, None if everything else reach), None
