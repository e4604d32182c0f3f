"""`bandwidth`: what the target sends is capped at `rate` by a token bucket (tc `tbf`) as the root
qdisc of its interface; destinations do not apply (the cap is on its link)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from chaosmonkey.faults.base import register_fault
from chaosmonkey.faults.network import DEVICE, NetworkFault, Rate
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import ProxySpec
from chaosmonkey.netfaults.rules import Change, bandwidth


@register_fault
class BandwidthFault(NetworkFault):
    type: Literal["bandwidth"]
    rate: Rate

    def changes(
        self, tag: str, peers: Sequence[Destination]
    ) -> tuple[list[Change], ProxySpec | None]:
        return [bandwidth(tag, DEVICE, self.rate)], None
