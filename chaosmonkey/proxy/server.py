"""Listeners: each proxy relays its listen address to its upstream through its toxics.

A proxy whose upstream is `original-destination` is transparent: iptables REDIRECT sends
connections to it, and it reads where each was headed with SO_ORIGINAL_DST; its own upstream
connections carry SO_MARK `mark`, so that the same rules can exempt them and not loop.

Limits: each proxy serves at most `max_connections` connections at once (more are reset as
they come), each holding back at most `max_buffer_bytes` (half each way) before reading pauses.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import structlog

from chaosmonkey.proxy.config import (
    DEFAULT_MARK,
    DEFAULT_MAX_BUFFER,
    DEFAULT_MAX_CONNECTIONS,
    MAX_PROXIES,
    MAX_TOXICS,
    ORIGINAL_DESTINATION,
    ListenError,
    NameTaken,
    ProxyConfigError,
    ProxySpec,
    UnknownName,
    parse_address,
)
from chaosmonkey.proxy.pump import READ_SIZE, Link
from chaosmonkey.proxy.reach import Reach
from chaosmonkey.proxy.toxics import InstalledToxic, Stream
from chaosmonkey.proxy.wire import open_marked, original_destination, reset_on_close

_STOP_WAIT_S = 2.0
log = structlog.get_logger("chaosmonkey.proxy")


class Proxy:
    """One listener with its toxics and its open connections; `reach`, when given, restricts
    where its upstream connections may go."""

    def __init__(
        self,
        spec: ProxySpec,
        mark: int,
        rng: random.Random,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER,
        reach: Reach | None = None,
    ) -> None:
        self.name, self.spec, self.mark, self.rng = spec.name, spec, mark, rng
        self.max_connections, self.reach = max_connections, reach
        self.high_water = max_buffer_bytes // 2  # per direction of a connection
        self.listen = parse_address(spec.listen, port_zero=True)
        transparent = spec.upstream == ORIGINAL_DESTINATION
        self.upstream = None if transparent else parse_address(spec.upstream)
        self.toxics: dict[str, InstalledToxic] = {}
        self.chains: dict[Stream, tuple[InstalledToxic, ...]] = {"upstream": (), "downstream": ()}
        self.links: set[Link] = set()
        self.handlers: set[asyncio.Task[Any]] = set()
        self.server: asyncio.Server | None = None
        self.port = self.listen[1]

    async def start(self) -> None:
        host, port = self.listen
        try:
            self.server = await asyncio.start_server(
                self._accept, host, port, limit=READ_SIZE, reuse_address=True
            )
        except OSError as error:
            reason = (error.strerror or str(error)).rsplit(": ", 1)[-1]
            raise ListenError(f"listen: cannot listen on {self.spec.listen}: {reason}") from None
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.handlers) >= self.max_connections:
            log.warning("connection_refused", proxy=self.name, max_connections=self.max_connections)
            reset_on_close(writer)
            writer.transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
            task.add_done_callback(self.handlers.discard)
        await Link(self, reader, writer).run()

    async def open_upstream(
        self, client: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The connection to the upstream for a client that just connected."""
        if self.upstream is not None and self.reach is None:
            return await asyncio.open_connection(*self.upstream, limit=READ_SIZE)
        if self.upstream is not None and self.reach is not None:
            return await self._open_allowed(self.reach, *self.upstream)
        try:
            host, port = original_destination(client.get_extra_info("socket"))
        except ValueError as error:
            raise ConnectionRefusedError(f"no original destination: {error}") from None
        if (host, port) == tuple(client.get_extra_info("sockname")[:2]):
            raise ConnectionRefusedError(f"{host}:{port} is the proxy itself (not redirected)")
        return await open_marked(host, port, self.mark, READ_SIZE)

    async def _open_allowed(
        self, reach: Reach, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the first allowed address of `host` that answers."""
        failure: OSError | None = None
        for address in await reach.upstream_addresses(host, port):
            try:
                return await asyncio.open_connection(address, port, limit=READ_SIZE)
            except OSError as error:
                failure = error
        assert failure is not None  # upstream_addresses returns one address at least
        raise failure

    def add_toxic(self, toxic: InstalledToxic) -> None:
        if toxic.name in self.toxics:
            raise NameTaken(f"name: proxy {self.name!r} has a toxic {toxic.name!r} already")
        if len(self.toxics) >= MAX_TOXICS:
            raise ProxyConfigError(f"toxics: proxy {self.name!r} has {MAX_TOXICS} (the most)")
        self.toxics[toxic.name] = toxic
        self._changed()
        log.info("toxic_added", proxy=self.name, toxic=toxic.name, **_fields(toxic))

    def toxic(self, name: str) -> InstalledToxic:
        if name not in self.toxics:
            raise UnknownName(f"toxic: proxy {self.name!r} has no toxic {name!r}")
        return self.toxics[name]

    def remove_toxic(self, name: str) -> None:
        del self.toxics[self.toxic(name).name]
        self._changed()
        log.info("toxic_removed", proxy=self.name, toxic=name)

    def clear_toxics(self) -> None:
        self.toxics.clear()
        self._changed()

    def _changed(self) -> None:
        for stream in self.chains:
            self.chains[stream] = tuple(t for t in self.toxics.values() if t.stream == stream)
        for link in list(self.links):
            link.sync()

    async def stop(self) -> None:
        """Stops listening and closes every open connection."""
        if self.server is not None:
            self.server.close()
        for link in list(self.links):
            link.close()
        if self.handlers:
            await asyncio.wait(list(self.handlers), timeout=_STOP_WAIT_S)

    def to_dict(self) -> dict[str, Any]:
        host = self.listen[0]
        return {
            "name": self.name,
            "listen": f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}",
            "upstream": self.spec.upstream,
            "connections": len(self.links),
            "toxics": [toxic.to_dict() for toxic in self.toxics.values()],
        }


class Proxies:
    """Every proxy of this process, by name: what the control API works on."""

    def __init__(
        self,
        mark: int = DEFAULT_MARK,
        rng: random.Random | None = None,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        self.mark = mark
        self.rng = rng or random.Random()
        self.limits = {"max_connections": max_connections, "max_buffer_bytes": max_buffer_bytes}
        self.by_name: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        if name not in self.by_name:
            raise UnknownName(f"proxy: no proxy named {name!r}")
        return self.by_name[name]

    async def add(self, spec: ProxySpec, *, reach: Reach | None = None) -> Proxy:
        """Starts listening for `spec`, with its toxics; nothing changes on an error. With
        `reach`, its upstream connections go only where `reach` allows (checked at each)."""
        if spec.name in self.by_name:
            raise NameTaken(f"name: a proxy named {spec.name!r} exists already")
        if len(self.by_name) >= MAX_PROXIES:
            raise ProxyConfigError(f"proxies: there are {MAX_PROXIES} already (the most)")
        toxics = [toxic.build() for toxic in spec.toxics]
        proxy = Proxy(spec, self.mark, self.rng, reach=reach, **self.limits)
        for toxic in toxics:
            proxy.add_toxic(toxic)
        await proxy.start()
        self.by_name[spec.name] = proxy
        log.info("proxy_listening", **_public(proxy))
        return proxy

    async def remove(self, name: str) -> None:
        proxy = self.get(name)
        del self.by_name[name]
        await proxy.stop()
        log.info("proxy_removed", proxy=name)

    def reset(self) -> None:
        """Removes every toxic of every proxy."""
        for proxy in self.by_name.values():
            proxy.clear_toxics()
        log.info("toxics_reset")

    async def close(self) -> None:
        for name in list(self.by_name):
            await self.remove(name)


def _public(proxy: Proxy) -> dict[str, Any]:
    info = proxy.to_dict()
    return {"proxy": info["name"], "listen": info["listen"], "upstream": info["upstream"]}


def _fields(toxic: InstalledToxic) -> dict[str, Any]:
    info = toxic.to_dict()
    return {key: info[key] for key in ("type", "stream", "toxicity", "attributes")}
