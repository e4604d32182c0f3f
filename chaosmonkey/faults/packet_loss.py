"""`packet_loss`: each packet with the destinations dropped with probability `percent`/100
(iptables `statistic`): those the target sends (`egress`), receives (`ingress`), or both;
ingress unless destinations are given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import model_validator

from chaosmonkey.faults.base import register_fault
from chaosmonkey.faults.network import NetworkFault, Percent, with_default_direction
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import ProxySpec
from chaosmonkey.netfaults.rules import Change, Direction, packet_loss


@register_fault
class PacketLossFault(NetworkFault):
    type: Literal["packet_loss"]
    percent: Percent
    direction: Direction = "ingress"

    _default_direction = model_validator(mode="before")(with_default_direction)

    def changes(
        self, tag: str, peers: Sequence[Destination]
    ) -> tuple[list[Change], ProxySpec | None]:
        return list(packet_loss(tag, peers, self.percent, self.direction)), None
