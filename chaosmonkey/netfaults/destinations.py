"""Where a network fault applies: `host:port`, a CIDR, or a container or compose service name
with an optional port. Names are resolved by the backend into addresses."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_SPEC = re.compile(r"(?P<host>[A-Za-z0-9][A-Za-z0-9_.\-]*(?:/\d{1,2})?)(?::(?P<port>\d{1,5}))?")


@dataclass(frozen=True)
class DestinationSpec:
    """One destination as written: an address or network (`cidr`), or a `name` to resolve."""

    cidr: str | None
    name: str | None
    port: int | None


@dataclass(frozen=True)
class Destination:
    """A resolved destination: a network and an optional TCP port."""

    cidr: str
    port: int | None = None


def check_destination(text: str) -> DestinationSpec:
    """Parses one destination; raises ValueError saying what was expected."""
    match = _SPEC.fullmatch(text.strip())
    expected = "expected host:port, a CIDR such as 10.1.0.0/16, or a container or service name"
    if not match:
        raise ValueError(f"{expected}, got {text!r}")
    host, port_text = match.group("host"), match.group("port")
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"expected a port from 1 to 65535 in {text!r}")
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        if "/" in host or re.fullmatch(r"[\d.]+", host):
            raise ValueError(f"{expected}, got {text!r}") from None
        return DestinationSpec(cidr=None, name=host, port=port)
    if network.version != 4:
        raise ValueError(f"expected an IPv4 address or network, got {text!r}")
    return DestinationSpec(cidr=str(network), name=None, port=port)
