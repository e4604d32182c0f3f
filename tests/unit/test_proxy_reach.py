"""Where `POST /proxies` may relay to and listen on: loopback or what the operator allowed; the
transparent proxy of the in-namespace faults, built without HTTP, is not restricted."""

from __future__ import annotations

import asyncio
from ipaddress import ip_network
from typing import Any

import pytest

from chaosmonkey.proxy.config import ORIGINAL_DESTINATION, ProxySpec, ToxicSpec
from chaosmonkey.proxy.reach import Reach, resolve
from chaosmonkey.proxy.server import Proxies
from tests.unit.proxyapi import api, fixed_resolver

LOCAL = "127.0.0.1"


def create(reach: Reach | None, **spec: str) -> tuple[int, str]:
    """(status, error or "") of POST /proxies with `spec` over the defaults."""
    body = {"name": "p", "listen": f"{LOCAL}:0", "upstream": f"{LOCAL}:9", **spec}

    async def go() -> tuple[int, str]:
        async with api(reach=reach) as client:
            response = await client.post("/proxies", json=body)
            answer: Any = await response.json()
            return response.status, answer.get("error", "") if isinstance(answer, dict) else ""

    return asyncio.run(go())


@pytest.mark.parametrize(
    "upstream", [f"{LOCAL}:9", "127.8.9.10:80", "[::1]:9", "[::ffff:127.0.0.1]:9", "localhost:9"]
)
def test_loopback_upstreams_are_allowed_by_default(upstream: str) -> None:
    """Loopback, in any spelling, including a name that resolves to it."""
    assert create(None, upstream=upstream) == (201, "")


@pytest.mark.parametrize(
    "upstream",
    ["10.0.0.1:80", "192.0.2.7:443", "[2001:db8::1]:80", "[::ffff:10.0.0.1]:80", "0.0.0.0:9"],
)
def test_other_upstreams_are_refused_by_default(upstream: str) -> None:
    """Anything else is 403 naming upstream: the API is no open relay."""
    status, error = create(None, upstream=upstream)
    assert status == 403
    assert error.startswith(f"upstream: {upstream} (")
    assert "--allow-upstream" in error


def test_an_allowed_network_opens_its_upstreams() -> None:
    """--allow-upstream 10.0.0.0/8 lets 10.x through, and nothing else."""
    reach = Reach((ip_network("10.0.0.0/8"),))
    assert create(reach, upstream="10.1.2.3:80") == (201, "")
    assert create(reach, upstream="11.0.0.1:80")[0] == 403


def test_a_name_is_refused_if_any_of_its_addresses_is_not_allowed() -> None:
    """A name resolving to loopback and elsewhere is refused; one that does not resolve is 400."""
    table = {"mixed": ["127.0.0.1", "10.0.0.1"]}
    reach = Reach(resolve=fixed_resolver(table))
    assert create(reach, upstream="mixed:80")[0] == 403
    status, error = create(reach, upstream="nowhere.invalid:80")
    assert (status, error.split(":")[0]) == (400, "upstream")


def test_a_name_pointed_elsewhere_later_gets_no_connection() -> None:
    """Each connection resolves again and goes only to an allowed address: rebinding gains
    nothing (the connection is closed at once, the upstream never contacted)."""
    table = {"localhost": ["127.0.0.1"]}  # a name the system resolves to loopback too
    reach = Reach(resolve=fixed_resolver(table))

    async def go() -> bytes:
        served = asyncio.Event()

        async def upstream(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            served.set()
            writer.close()

        server = await asyncio.start_server(upstream, LOCAL, 0)
        port = server.sockets[0].getsockname()[1]
        proxies = Proxies()
        spec = ProxySpec(name="p", listen=f"{LOCAL}:0", upstream=f"localhost:{port}")
        await reach.check(spec)
        proxy = await proxies.add(spec, reach=reach)
        table["localhost"] = ["10.0.0.1"]
        reader, writer = await asyncio.open_connection(LOCAL, proxy.port)
        data = await reader.read()
        writer.close()
        await proxies.close()
        server.close()
        assert not served.is_set()
        return data

    assert asyncio.run(go()) == b""


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"])
def test_api_proxies_cannot_listen_beyond_loopback_when_the_api_does_not(listen: str) -> None:
    """With the API on loopback, its proxies may not publish a port on the network."""
    status, error = create(Reach(control_host=LOCAL), listen=listen)
    assert status == 403
    assert error.startswith(f"listen: {listen} is not allowed")


def test_api_proxies_may_listen_where_the_api_listens() -> None:
    """An API on 0.0.0.0 is reachable from the network anyway: its proxies may be too."""

    async def go() -> None:
        spec = ProxySpec(name="p", listen="0.0.0.0:0", upstream=f"{LOCAL}:9")
        await Reach.of((), "0.0.0.0:8474").check(spec)
        await Reach.of((), f"{LOCAL}:8474").check(spec.model_copy(update={"listen": "localhost:0"}))

    asyncio.run(go())


def test_transparent_proxies_are_allowed_over_the_api() -> None:
    """original-destination relays where iptables redirected a connection from: allowed."""
    assert create(None, upstream=ORIGINAL_DESTINATION) == (201, "")


def test_the_in_namespace_proxy_is_built_without_reach_as_before() -> None:
    """netfaults/inproxy.py's way: Proxies(mark).add(ProxySpec(...)) with a transparent
    upstream and one toxic, no reach: it listens, unrestricted."""

    async def go() -> dict[str, Any]:
        proxies = Proxies(0)
        toxic = ToxicSpec.model_validate({"type": "latency", "attributes": {"latency_ms": 5}})
        spec = ProxySpec(
            name="fault", listen=f"{LOCAL}:0", upstream=ORIGINAL_DESTINATION, toxics=[toxic]
        )
        proxy = await proxies.add(spec)
        info = proxy.to_dict()
        await proxies.close()
        assert proxy.reach is None
        return info

    assert asyncio.run(go())["upstream"] == ORIGINAL_DESTINATION


def test_the_default_resolver_reads_ip_addresses_as_themselves() -> None:
    """An IP literal needs no DNS."""
    assert asyncio.run(resolve("10.0.0.1", 80)) == ["10.0.0.1"]
