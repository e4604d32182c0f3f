"""Limits of the proxy: connections per proxy (more are reset) and bytes a connection holds
back (reading pauses: back-pressure on the client, not an unbounded queue)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from chaosmonkey.proxy.config import (
    DEFAULT_MAX_BUFFER,
    DEFAULT_MAX_CONNECTIONS,
    ProxySpec,
    ToxicSpec,
)
from chaosmonkey.proxy.pump import READ_SIZE
from chaosmonkey.proxy.server import Proxies, Proxy

LOCAL = "127.0.0.1"


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def until(condition: Callable[[], object], what: str) -> None:
    """Lets the loop run until `condition()` holds (a bounded number of short turns)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


async def proxy_to(server: asyncio.Server, proxies: Proxies, *toxics: ToxicSpec) -> Proxy:
    port = server.sockets[0].getsockname()[1]
    spec = ProxySpec(name="p", listen=f"{LOCAL}:0", upstream=f"{LOCAL}:{port}", toxics=list(toxics))
    return await proxies.add(spec)


async def echoes(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection(LOCAL, port)
    writer.write(b"ping")
    with contextlib.suppress(ConnectionResetError):
        return reader, writer, await reader.read(4)
    return reader, writer, b""


def test_the_defaults_are_the_documented_ones() -> None:
    """1024 connections per proxy, 8 MiB held back per connection (4 MiB each way)."""
    assert (DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_BUFFER) == (1024, 8 * 1024 * 1024)
    assert Proxies().limits == {"max_connections": 1024, "max_buffer_bytes": 8 * 1024 * 1024}


def test_connections_beyond_the_limit_are_reset_and_room_comes_back() -> None:
    """With max_connections 2, a third client is cut off at once; once one leaves, a new
    client is served again."""

    async def go() -> list[bytes]:
        server = await asyncio.start_server(echo, LOCAL, 0)
        proxies = Proxies(max_connections=2)
        proxy = await proxy_to(server, proxies)
        first, second = await echoes(proxy.port), await echoes(proxy.port)
        third = await echoes(proxy.port)
        first[1].close()
        await until(lambda: len(proxy.handlers) < 2, "the first connection ended")
        fourth = await echoes(proxy.port)
        for _, writer, _ in (second, third, fourth):
            writer.close()
        await proxies.close()
        server.close()
        return [first[2], second[2], third[2], fourth[2]]

    assert asyncio.run(go()) == [b"ping", b"ping", b"", b"ping"]


def test_a_connection_holds_back_no_more_than_its_buffer() -> None:
    """With an hour of latency and max_buffer_bytes 1 MiB, the client's 8 MiB are not all
    read: reading pauses once half a MiB (plus one read) waits in the delay queue."""
    max_buffer = 1024 * 1024

    async def go() -> tuple[int, int, bool]:
        server = await asyncio.start_server(echo, LOCAL, 0)
        proxies = Proxies(max_buffer_bytes=max_buffer)
        hour = ToxicSpec.model_validate(
            {"type": "latency", "stream": "upstream", "attributes": {"latency_ms": 3_600_000}}
        )
        proxy = await proxy_to(server, proxies, hour)
        _, writer = await asyncio.open_connection(LOCAL, proxy.port)
        sending = asyncio.create_task(_send(writer, 8 * 1024 * 1024))
        await until(lambda: proxy.links, "the connection is open")
        pump = next(iter(proxy.links)).up
        await until(lambda: not pump.room.is_set(), "reading paused")
        held = pump.queued
        for _ in range(20):  # the loop turns: nothing more is read meanwhile
            await asyncio.sleep(0)
        still = pump.queued
        done = sending.done()
        sending.cancel()
        writer.transport.abort()
        await proxies.close()
        server.close()
        return held, still, done

    held, still, done = asyncio.run(go())
    assert max_buffer // 2 < held <= max_buffer // 2 + READ_SIZE
    assert still == held
    assert not done  # the client is held back: its writes wait


async def _send(writer: asyncio.StreamWriter, size: int) -> None:
    chunk = bytes(65536)
    for _ in range(size // len(chunk)):
        writer.write(chunk)
        await writer.drain()
