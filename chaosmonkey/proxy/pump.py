"""One proxied connection: a `Link` of two `Pump`s, client -> upstream and upstream -> client.

Without toxics a pump is a tight loop (read -> write -> drain). With toxics each chunk goes
through the effects of the pump's current chain, looked up again for every chunk, and then
either straight out or into the pump's delay queue, which a second task empties in order, each
chunk at its due time: reading goes on meanwhile, until the proxy's `high_water` bytes are held
back (then it waits until the queue is down to half of that).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import structlog

from chaosmonkey.proxy.toxics import Chunk, Effect, Forward, InstalledToxic, Stream
from chaosmonkey.proxy.wire import reset_on_close

if TYPE_CHECKING:
    from chaosmonkey.proxy.server import Proxy

READ_SIZE = 256 * 1024
ANSWER_LINGER_S = 1.0  # after an http_status answer, how long the client may take to hang up
Action = Callable[[], None]
log = structlog.get_logger("chaosmonkey.proxy")


class Pump:
    """The bytes of one direction of one connection; the `Flow` its toxics act on."""

    def __init__(
        self,
        link: Link,
        stream: Stream,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | None,
    ) -> None:
        self.link, self.stream, self.reader, self.writer = link, stream, reader, writer
        self.rng = link.proxy.rng
        self.high_water = link.proxy.high_water  # bytes held back before reading pauses
        self.chain: tuple[InstalledToxic, ...] = ()
        self.effects: dict[InstalledToxic, Effect | None] = {}
        self.pipe: Forward | None = None  # None: no toxic acts on this connection
        self.queue: deque[tuple[float, bytes | Action]] = deque()
        self.queued = 0
        self.flusher: asyncio.Task[None] | None = None
        self.waking: asyncio.Future[None] | None = None  # the flusher's wait for the head's time
        self.room = asyncio.Event()
        self.room.set()
        self.changed = asyncio.Event()
        self.discarding = False
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        """Relays until the end of the stream (or an error, which ends the connection)."""
        reader, chains, stream = self.reader, self.link.proxy.chains, self.stream
        try:
            while data := await reader.read(READ_SIZE):
                if chains[stream] is not self.chain:
                    self.sync()
                writer = self.writer
                if self.pipe is None and not self.queue and writer is not None:
                    writer.write(data)
                    await writer.drain()
                elif self.discarding:
                    continue
                elif self.pipe is None:
                    await self.emit(Chunk(data))
                else:
                    await self.pipe(Chunk(data))
            await self._end()
        except ConnectionResetError:
            self.link.reset()
        except OSError:
            self.link.close()

    def sync(self) -> None:
        """Meets the toxics new to this pump (drawing their toxicity), stops those removed."""
        chain = self.link.proxy.chains[self.stream]
        if chain is self.chain:
            return
        old, self.effects = self.effects, {}
        for toxic in chain:
            self.effects[toxic] = old.pop(toxic) if toxic in old else toxic.meet(self)
        for effect in old.values():
            if effect is not None:
                effect.stop()
        self.chain = chain
        active = [effect for effect in self.effects.values() if effect is not None]
        forward: Forward = self.emit
        for effect in reversed(active):
            forward = partial(effect.pipe, forward)
        self.pipe = forward if active else None
        if self.pipe is None and self.queue:
            self._hurry()  # no toxic left: what they held back is due now
        self.changed.set()

    def _hurry(self) -> None:
        now = asyncio.get_running_loop().time()
        for index, (due, item) in enumerate(self.queue):
            self.queue[index] = (min(due, now), item)
        if self.waking is not None and not self.waking.done():
            self.waking.set_result(None)

    @property
    def defers_connect(self) -> bool:
        return any(e is not None and e.defers_connect for e in self.effects.values())

    async def emit(self, chunk: Chunk) -> None:
        """The end of the toxic chain: out now, or into the delay queue."""
        if self.writer is None:
            if self.discarding:
                return
            self.writer = await self.link.connect()
        if not self.queue and chunk.delay_s <= 0:
            self.writer.write(chunk.data)
            await self.writer.drain()
            return
        self._enqueue(chunk.delay_s, chunk.data)
        if self.queued > self.high_water:
            self.room.clear()
            await self.room.wait()

    def _enqueue(self, delay_s: float, item: bytes | Action) -> None:
        self.queue.append((asyncio.get_running_loop().time() + delay_s, item))
        if isinstance(item, bytes):
            self.queued += len(item)
        if self.flusher is None:
            self.flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        loop, queue = asyncio.get_running_loop(), self.queue
        try:
            while queue:
                due, item = queue[0]
                if (wait_s := due - loop.time()) > 0:
                    self.waking = loop.create_future()
                    timer = loop.call_later(wait_s, _wake, self.waking)
                    await self.waking
                    timer.cancel()
                    continue  # due now, or hurried
                queue.popleft()
                if not isinstance(item, bytes):
                    item()
                    continue
                self.queued -= len(item)
                if (writer := self.writer) is None:
                    break  # answered in the upstream's place: nothing more goes there
                writer.write(item)
                await writer.drain()
                if self.queued <= self.high_water // 2:
                    self.room.set()
        except ConnectionResetError:
            self.link.reset()
        except OSError:
            self.link.close()
        finally:
            self.flusher = None

    async def _end(self) -> None:
        """The reader's stream ended: pass the end on after what is queued (and slow_close)."""
        while (delay_s := self._close_delay_s()) == math.inf:
            self.changed.clear()
            await self.changed.wait()
        if self.discarding:
            self.link.close()
        elif self.writer is not None:
            if delay_s > 0 or self.queue:
                self._enqueue(delay_s, self._half_close)
            else:
                self._half_close()
        if self.flusher is not None:
            await asyncio.wait([self.flusher])

    def _close_delay_s(self) -> float:
        return max((e.close_delay_s for e in self.effects.values() if e is not None), default=0.0)

    def _half_close(self) -> None:
        if self.writer is not None and self.writer.can_write_eof():
            self.writer.write_eof()
        elif self.writer is not None:
            self.writer.close()

    def stop(self) -> None:
        """The connection ends: stop the effects' timers and the delay queue."""
        for effect in self.effects.values():
            if effect is not None:
                effect.stop()
        if self.flusher is not None:
            self.flusher.cancel()

    # The Flow protocol: what toxics may do to the connection.
    def close(self) -> None:
        self.link.close()

    def reset(self) -> None:
        self.link.reset()

    def close_after_pending(self) -> None:
        if self.queue:
            self._enqueue(0.0, self.link.close)
        else:
            self.link.close()

    def answer(self, data: bytes) -> None:
        self.stop()
        self.queue.clear()
        self.discarding, self.writer = True, None
        self.link.answer(data)


def _wake(waking: asyncio.Future[None]) -> None:
    if not waking.done():
        waking.set_result(None)


class Link:
    """One client connection and its upstream; it ends when both pumps ended."""

    def __init__(
        self, proxy: Proxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy, self.client = proxy, writer
        self.upstream: asyncio.StreamWriter | None = None
        self.up = Pump(self, "upstream", reader, None)
        self.down: Pump | None = None
        self.closed = False

    async def run(self) -> None:
        self.proxy.links.add(self)
        try:
            self.up.sync()
            if not self.up.defers_connect:
                await self.connect()
            self.up.start()
            while pending := [p.task for p in self.pumps if p.task and not p.task.done()]:
                await asyncio.wait(pending)
        except OSError:
            pass  # the upstream is unreachable: logged by connect
        finally:
            self.proxy.links.discard(self)
            self.close()

    async def connect(self) -> asyncio.StreamWriter:
        """Opens the upstream connection and starts the downstream pump."""
        try:
            reader, writer = await self.proxy.open_upstream(self.client)
        except OSError as error:
            log.warning("upstream_unreachable", proxy=self.proxy.name, error=str(error))
            self.close()
            raise
        if self.closed:
            writer.close()
            raise ConnectionAbortedError("the connection was closed meanwhile")
        self.upstream = self.up.writer = writer
        self.down = Pump(self, "downstream", reader, self.client)
        self.down.sync()
        self.down.start()
        return writer

    @property
    def pumps(self) -> list[Pump]:
        return [self.up] if self.down is None else [self.up, self.down]

    def sync(self) -> None:
        """The proxy's toxics changed: both pumps meet the new chain now."""
        for pump in self.pumps:
            pump.sync()

    def close(self) -> None:
        """Closes both sides (what is written is still sent, then FIN)."""
        if self._stop():
            for writer in (self.client, self.upstream):
                if writer is not None:
                    writer.close()

    def reset(self) -> None:
        """Resets both sides: SO_LINGER 0, so closing sends RST."""
        if self._stop():
            for writer in (self.client, self.upstream):
                if writer is not None:
                    reset_on_close(writer)
                    writer.transport.abort()

    def answer(self, data: bytes) -> None:
        """Replies to the client in the upstream's place, then closes once it hung up."""
        if self.down is not None:
            self.down.stop()
            if self.down.task is not None:
                self.down.task.cancel()
        if self.upstream is not None:
            self.upstream.close()
        with contextlib.suppress(RuntimeError):  # the client's side had ended already
            self.client.write(data)
            self.client.write_eof()
        asyncio.get_running_loop().call_later(ANSWER_LINGER_S, self.close)

    def _stop(self) -> bool:
        if self.closed:
            return False
        self.closed = True
        for pump in self.pumps:
            pump.stop()
            if pump.task is not None:
                pump.task.cancel()
        return True
