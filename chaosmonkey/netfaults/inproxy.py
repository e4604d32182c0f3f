"""The fault proxy inside a keeper: transparent (connections redirected by iptables keep their
original destination), one toxic, on a thread of its own so the keeper's main thread can wait.

Ending a fault must not break the connections it holds: `release` takes the toxic away (what is
open flows at full speed from then on), and `drain` waits for those connections to end by
themselves, up to a bound, before `stop` closes what is left."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

from chaosmonkey.proxy.config import ORIGINAL_DESTINATION, ProxySpec, ToxicSpec
from chaosmonkey.proxy.server import Proxies

if TYPE_CHECKING:
    from chaosmonkey.netfaults.keeper import ProxySpec as FaultProxySpec

START_TIMEOUT_S = 10.0
_DRAIN_POLL_S = 0.05


class FaultProxy:
    """A running fault proxy, steered from the keeper's thread."""

    def __init__(self, spec: FaultProxySpec) -> None:
        host = "0.0.0.0" if spec.listen_all else "127.0.0.1"  # noqa: S104 (REDIRECT from outside)
        self._spec = ProxySpec(
            name="fault",
            listen=f"{host}:{spec.port}",
            upstream=ORIGINAL_DESTINATION,
            toxics=[ToxicSpec.model_validate(spec.toxic)],
        )
        self._loop = asyncio.new_event_loop()
        self._proxies = Proxies(spec.mark)
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._started = threading.Event()
        self._failures: list[BaseException] = []

    def start(self) -> None:
        self._thread.start()
        self._started.wait(START_TIMEOUT_S)
        if self._failures:
            raise self._failures[0]

    def release(self) -> None:
        """No toxic any more: the connections it holds go on, at full speed."""
        self._loop.call_soon_threadsafe(self._proxies.reset)

    def open_connections(self) -> int:
        return sum(len(proxy.links) for proxy in list(self._proxies.by_name.values()))

    def drain(self, timeout_s: float) -> bool:
        """Waits until every connection through the proxy has ended, at most `timeout_s`;
        whether they all did."""
        deadline = time.monotonic() + timeout_s
        while self.open_connections() and time.monotonic() < deadline:
            time.sleep(_DRAIN_POLL_S)
        return not self.open_connections()

    def stop(self) -> None:
        """Stops listening and closes what is still open."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._proxies.add(self._spec))
        except BaseException as error:  # reported to the keeper's thread by `start`
            self._failures.append(error)
            return
        finally:
            self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._proxies.close())
