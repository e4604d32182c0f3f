"""The fault proxy inside a keeper: transparent (connections redirected by iptables keep their
original destination), one toxic, on a thread of its own so the keeper's main thread can wait."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from chaosmonkey.proxy.config import ORIGINAL_DESTINATION, ProxySpec, ToxicSpec
from chaosmonkey.proxy.server import Proxies

START_TIMEOUT_S = 10.0


def start_fault_proxy(port: int, mark: int, toxic: dict[str, Any]) -> Callable[[], None]:
    """Listens on 127.0.0.1:`port` (where REDIRECT sends local connections); returns `stop`."""
    spec = ProxySpec(
        name="fault",
        listen=f"127.0.0.1:{port}",
        upstream=ORIGINAL_DESTINATION,
        toxics=[ToxicSpec.model_validate(toxic)],
    )
    loop = asyncio.new_event_loop()
    proxies = Proxies(mark)
    started = threading.Event()
    failures: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(proxies.add(spec))
        except BaseException as error:  # reported to the keeper's thread below
            failures.append(error)
            return
        finally:
            started.set()
        loop.run_forever()
        loop.run_until_complete(proxies.close())

    thread = threading.Thread(target=serve, name="fault-proxy", daemon=True)
    thread.start()
    started.wait(START_TIMEOUT_S)
    if failures:
        raise failures[0]

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_S)

    return stop
