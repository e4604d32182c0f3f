"""`partition`: the destinations severed in `direction`; `reject` answers TCP with a reset (callers
fail at once), `drop` blackholes (callers time out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from chaosmonkey.faults.base import register_fault
from chaosmonkey.faults.network import NetworkFault
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import ProxySpec
from chaosmonkey.netfaults.rules import Change, Direction, Mode, partition


@register_fault
class PartitionFault(NetworkFault):
    type: Literal["partition"]
    mode: Mode = "reject"
    direction: Direction = "egress"

    def changes(
        self, tag: str, peers: Sequence[Destination]
    ) -> tuple[list[Change], ProxySpec | None]:
        return list(partition(tag, peers, self.mode, self.direction)), None
