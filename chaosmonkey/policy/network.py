"""Network fault specs: they degrade a target's network for `duration`, then put it back."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from chaosmonkey.netfaults.rules import parse_rate
from chaosmonkey.policy.types import Duration, Model, PositiveDuration


def _rate(value: str) -> str:
    rate = value.strip().lower()
    try:
        parse_rate(rate)
    except ValueError:
        raise ValueError(
            f"expected a rate such as 1mbit, 500kbit or 2mbps, got {value!r}"
        ) from None
    return rate


Rate = Annotated[str, AfterValidator(_rate)]
Percent = Annotated[float, Field(gt=0, le=100)]
Direction = Literal["egress", "ingress", "both"]


class NetworkFaultBase(Model):
    """What every network fault has: where it applies, for how long, and the host-network guard."""

    destinations: list[str] = Field(default_factory=list)
    duration: PositiveDuration = timedelta(seconds=60)
    allow_host_network: bool = False

    @field_validator("destinations")
    @classmethod
    def _destinations(cls, values: list[str]) -> list[str]:
        from chaosmonkey.netfaults.destinations import check_destination

        for value in values:
            check_destination(value)
        return values


class LatencyFault(NetworkFaultBase):
    """Adds `delay` (± `jitter`) to the target's TCP traffic to the destinations."""

    type: Literal["latency"]
    delay: PositiveDuration
    jitter: Duration = timedelta(0)


class PacketLossFault(NetworkFaultBase):
    type: Literal["packet_loss"]
    percent: Percent
    direction: Direction = "egress"


class BandwidthFault(NetworkFaultBase):
    """Caps what the target sends at `rate` (destinations do not apply: the cap is on its link)."""

    type: Literal["bandwidth"]
    rate: Rate


class PartitionFault(NetworkFaultBase):
    """Severs the destinations: `reject` refuses at once, `drop` blackholes (callers time out)."""

    type: Literal["partition"]
    mode: Literal["reject", "drop"] = "reject"
    direction: Direction = "egress"


class HttpErrorFault(NetworkFaultBase):
    """Answers `percent` of the target's HTTP requests to the destinations with `status`."""

    type: Literal["http_error"]
    status: int = Field(default=503, ge=400, le=599)
    percent: Percent = 100.0


NetworkFault = LatencyFault | PacketLossFault | BandwidthFault | PartitionFault | HttpErrorFault
