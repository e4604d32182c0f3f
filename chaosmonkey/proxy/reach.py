"""Where proxies made over the control API may relay to and listen on.

Upstreams: loopback, or the networks the operator allowed; a name is resolved when the proxy
is made and again at each connection, which goes only to an allowed address of it (so that a
name pointed elsewhere later gains nothing). Transparent proxies relay to where iptables
redirected a connection from, which only root can arrange: they are not restricted.
Listen addresses: loopback, or the control API's own host (an API reachable from elsewhere
may publish proxies there too). Proxies of the command line and config file are the
operator's own and are not checked.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from chaosmonkey.proxy.config import (
    ORIGINAL_DESTINATION,
    NotAllowed,
    ProxyConfigError,
    ProxySpec,
    parse_address,
)

Network = IPv4Network | IPv6Network
Resolve = Callable[[str, int], Awaitable[list[str]]]
LOOPBACK: tuple[Network, ...] = (ip_network("127.0.0.0/8"), ip_network("::1/128"))


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host`, in the resolver's order (an IP address is itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _ip(text: str) -> IPv4Address | IPv6Address:
    address = ip_address(text.split("%", 1)[0])  # no zone index
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Reach:
    """The upstreams (beyond loopback) and the control API's host that proxies may use."""

    allowed: tuple[Network, ...] = ()
    control_host: str = "127.0.0.1"
    resolve: Resolve = field(default=resolve, compare=False)

    @classmethod
    def of(cls, allowed: Sequence[Network], control: str) -> Reach:
        return cls(tuple(allowed), parse_address(control, port_zero=True)[0])

    def allows(self, address: str) -> bool:
        ip = _ip(address)
        return any(ip in network for network in (*LOOPBACK, *self.allowed))

    async def addresses(self, host: str, port: int, where: str = "upstream") -> list[str]:
        """`host`'s addresses; ProxyConfigError (400) when it does not resolve."""
        try:
            return await self.resolve(host, port)
        except (OSError, UnicodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ProxyConfigError(f"{where}: cannot resolve {host!r}: {reason}") from None

    async def upstream_addresses(self, host: str, port: int) -> list[str]:
        """The allowed addresses a connection to the upstream may go to, in order."""
        try:
            found = await self.resolve(host, port)
        except (OSError, UnicodeError) as error:
            raise ConnectionRefusedError(f"upstream {host!r} does not resolve: {error}") from None
        allowed = [address for address in found if self.allows(address)]
        if not allowed:
            raise ConnectionRefusedError(f"upstream {host} ({', '.join(found)}) is not allowed")
        return allowed

    async def check(self, spec: ProxySpec) -> None:
        """NotAllowed (403) unless `spec`'s upstream and listen address are allowed."""
        if spec.upstream != ORIGINAL_DESTINATION:
            host, port = parse_address(spec.upstream)
            for address in await self.addresses(host, port):
                if not self.allows(address):
                    raise NotAllowed(
                        f"upstream: {spec.upstream} ({address}) is not allowed:"
                        " loopback and --allow-upstream networks only"
                    )
        host, port = parse_address(spec.listen, port_zero=True)
        if host == self.control_host or self._control_listens_everywhere():
            return
        for address in await self.addresses(host, port, "listen"):
            if not any(_ip(address) in network for network in LOOPBACK):
                raise NotAllowed(
                    f"listen: {spec.listen} is not allowed: loopback or the control API's"
                    f" host ({self.control_host}) only"
                )

    def _control_listens_everywhere(self) -> bool:
        try:
            return _ip(self.control_host).is_unspecified
        except ValueError:
            return False
