"""The fault proxy's control API in-process for unit tests: an aiohttp test client on a
loopback port, run by asyncio.run; the proxies it makes are closed at the end."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from chaosmonkey.proxy.access import Access
from chaosmonkey.proxy.control import make_app
from chaosmonkey.proxy.reach import Reach
from chaosmonkey.proxy.server import Proxies

JSON = {"Content-Type": "application/json"}
TOKEN = "s3cret-token-0123456789"  # noqa: S105 (a test token)


@asynccontextmanager
async def api(
    access: Access | None = None, reach: Reach | None = None, **limits: Any
) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of a control API over fresh proxies (`limits`: Proxies' keywords)."""
    proxies = Proxies(rng=random.Random(1), **limits)
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(proxies, access, reach)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await proxies.close()


def fixed_resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver answering from `table` (OSError for other names)."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(-2, "Name or service not known")
        return table[host]

    return resolve
