"""What every network fault shares: where it applies, for how long, the host-network guard, and
its plan, carried out the same way on every backend.

A network fault degrades a target's network for `duration`, then puts it back exactly as it was.
Its plan records the resolved peers and the exact rules (`KeeperSpec`), written by each fault type
(`NetworkFault.changes`), and, on Kubernetes, the node agent that holds them (`Placement`). A
keeper in the target's namespace applies the rules and removes them at its deadline, so the fault
ends even when the monkey is gone; revert stops it and removes whatever the fault's tag still owns.
"""

from __future__ import annotations

import ipaddress
import json
import zlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from chaosmonkey.faults.base import FaultSpec, Impact, Plan, parse_fault, register_plan
from chaosmonkey.faults.ops import NetworkOps
from chaosmonkey.model import RevertResult, Target
from chaosmonkey.netfaults.destinations import Destination, check_destination
from chaosmonkey.netfaults.keeper import KeeperSpec, ProxySpec
from chaosmonkey.netfaults.rules import Change, Direction, Reach, parse_rate, redirect, tag_for
from chaosmonkey.schema import PositiveDuration

Percent = Annotated[float, Field(gt=0, le=100)]
Port = Annotated[int, Field(ge=1, le=65535)]
DEVICE = "eth0"  # a container's interface on its network
PROXY_MARK = 0xC4A0  # the fault proxy's own sockets: never redirected to itself
_PROXY_PORTS = (39000, 1000)  # the proxy listens in the target's namespace at 39000-39999
# The monkey reverts at the end of the fault's duration; its keeper ends the fault by itself this
# long after, in case the monkey is not there any more to do it.
KEEPER_GRACE_S = 1.0


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


class NetworkFault(FaultSpec):
    """A fault in the target's network namespace, for `duration`."""

    backends: ClassVar[tuple[str, ...]] = ("docker", "kubernetes")
    impact: ClassVar[Impact] = Impact.APPLIED
    network: ClassVar[bool] = True

    destinations: list[str] = Field(default_factory=list)
    duration: PositiveDuration = timedelta(seconds=60)
    allow_host_network: bool = False

    @field_validator("destinations")
    @classmethod
    def _destinations(cls, values: list[str]) -> list[str]:
        for value in values:
            check_destination(value)
        return values

    def held_for(self) -> timedelta:
        return self.duration

    def changes(
        self, tag: str, peers: Sequence[Destination]
    ) -> tuple[list[Change], ProxySpec | None]:
        """The rules (and the fault proxy, where one is needed) that make the fault happen."""
        raise NotImplementedError

    def plan(self, attack_id: str, target: Target, ops: NetworkOps) -> NetworkPlan:
        placement = ops.place(target, self.allow_host_network)
        peers = ops.resolve(self.destinations)
        tag = tag_for(attack_id)
        changes, proxy = self.changes(tag, peers)
        return NetworkPlan(
            fault=self,
            tag=tag,
            peers=[Peer(cidr=peer.cidr, port=peer.port) for peer in peers],
            keeper=KeeperSpec(tag, 0.0, changes, proxy),
            placement=placement,
        )


def default_direction(destinations: Sequence[str]) -> Direction:
    """Egress towards the destinations given; without any, ingress: what the target serves."""
    return "egress" if destinations else "ingress"


def with_default_direction(data: Any) -> Any:
    """A fault's fields, with the default direction when none is written."""
    if isinstance(data, dict) and data.get("direction") is None:
        return {**data, "direction": default_direction(data.get("destinations") or [])}
    return data


class ReachingFault(NetworkFault):
    """A network fault on chosen connections (`Reach`): `direction` says which, ingress (those
    opened to the target, to its `ports` or any) unless destinations are given, then egress."""

    direction: Direction = "ingress"
    ports: list[Port] = Field(default_factory=list, max_length=15)

    _default_direction = model_validator(mode="before")(with_default_direction)

    @model_validator(mode="after")
    def _ports_need_ingress(self) -> ReachingFault:
        if self.ports and self.direction == "egress":
            raise ValueError("ports: the target's own served ports apply to ingress or both only")
        return self

    def reach(self, peers: Sequence[Destination]) -> Reach:
        return Reach(tuple(peers), self.direction, tuple(self.ports))


def proxy_port(tag: str) -> int:
    """A port per attack, so that two faults on one target do not collide."""
    base, size = _PROXY_PORTS
    return base + zlib.crc32(tag.encode()) % size


def through_proxy(
    tag: str, reach: Reach, toxic: dict[str, Any]
) -> tuple[list[Change], ProxySpec]:
    """The TCP connections `reach` names redirected through the fault proxy in the target's
    namespace, which applies `toxic` (the proxy's own upstream sockets are exempt by mark). It
    listens on every address when connections opened to the target come to it, else loopback."""
    proxy = ProxySpec(proxy_port(tag), PROXY_MARK, toxic, listen_all=reach.ingress)
    return list(redirect(tag, reach, proxy.port, PROXY_MARK)), proxy


class Peer(BaseModel):
    """A resolved destination: an IPv4 network and an optional port."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cidr: str
    port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("cidr")
    @classmethod
    def _ipv4(cls, value: str) -> str:
        network = ipaddress.ip_network(value, strict=False)
        if network.version != 4:
            raise ValueError("expected an IPv4 network")
        return str(network)


class Placement(BaseModel):
    """Where a keeper runs when it is not the monkey's to start: a node agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str
    agent: str  # ip:port


def _keeper(value: Any) -> KeeperSpec:
    if isinstance(value, KeeperSpec):
        return value
    return KeeperSpec.from_json(value if isinstance(value, str) else json.dumps(value))


def _network_fault(value: Any) -> NetworkFault:
    fault = value if isinstance(value, NetworkFault) else parse_fault(value)
    if not isinstance(fault, NetworkFault):
        raise ValueError(f"expected a network fault, got a {fault.type} fault")
    return fault


Keeper = Annotated[
    KeeperSpec,
    BeforeValidator(_keeper),
    PlainSerializer(lambda spec: json.loads(spec.to_json()), return_type=dict),
]
AnyNetworkFault = Annotated[
    NetworkFault,
    BeforeValidator(_network_fault),
    PlainSerializer(lambda fault: fault.model_dump(mode="json", by_alias=True), return_type=dict),
]


@register_plan
class NetworkPlan(Plan):
    """A network fault on one target: its peers, its exact rules, and where it is held."""

    kind: ClassVar[str] = "network"
    needs: ClassVar[type] = NetworkOps
    reversible: ClassVar[bool] = True

    model_config = ConfigDict(arbitrary_types_allowed=True)

    fault: AnyNetworkFault
    tag: str
    peers: list[Peer] = Field(default_factory=list)
    keeper: Keeper
    placement: Placement | None = None

    @property
    def duration_s(self) -> float:
        return self.fault.duration.total_seconds()

    @property
    def keeper_hold_s(self) -> float:
        """How long the keeper holds the fault once applied, should the monkey not revert it."""
        return self.duration_s + KEEPER_GRACE_S

    def apply(self, ops: NetworkOps, target: Target) -> float:
        return ops.hold(target, self)

    def revert(self, ops: NetworkOps, target: Target) -> RevertResult:
        return ops.release(target, self.tag, self.placement, self.fault.type)
