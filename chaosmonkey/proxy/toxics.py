"""Toxics: one small class per fault, registered by its `type` name.

A `Toxic` holds a fault's own attributes (these names are public: the control API takes them).
An `InstalledToxic` adds the knobs every fault has: `stream` (upstream = client -> server,
downstream = server -> client) and `toxicity`, the chance that a connection is affected, drawn
once when the connection first meets the toxic. Meeting a toxic gives an `Effect`: its state on
that one connection, which sees each chunk on its way and passes it on (or not) to `forward`.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from chaosmonkey.proxy.wire import http_response, looks_like_http

Stream = Literal["upstream", "downstream"]  # client -> server, server -> client
BURST_S = 0.02  # a bandwidth toxic lets through at most 20 ms worth of bytes at once
MAX_DELAY_MS = 3_600_000  # latency, jitter, timeouts and delays: at most one hour
MIN_RATE_KBPS = 0.001  # bandwidth: from 1 byte/s
MAX_RATE_KBPS = 100_000_000  # to 100 GB/s
MAX_LIMIT_BYTES = 10**15  # limit_data
MAX_BODY_CHARS = 65_536  # http_status's body


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    return value


# Finite numbers (the models forbid inf and NaN), never booleans, within the bounds given.
Number = Annotated[float, BeforeValidator(_not_bool)]
Milliseconds = Annotated[Number, Field(ge=0, le=MAX_DELAY_MS)]


@dataclass(slots=True)
class Chunk:
    """Bytes on their way, with the delay the toxics added so far."""

    data: bytes
    delay_s: float = 0.0


Forward = Callable[[Chunk], Awaitable[None]]


class Flow(Protocol):
    """What an effect may do to its connection (the pump of one direction implements it)."""

    rng: random.Random

    def close(self) -> None: ...

    def close_after_pending(self) -> None: ...

    def reset(self) -> None: ...

    def answer(self, data: bytes) -> None: ...


class Effect:
    """A toxic on one connection; the defaults pass everything through unchanged."""

    close_delay_s = 0.0  # how long the end of the stream is held back (math.inf: until removed)
    defers_connect = False  # True: the upstream is contacted only once the client has spoken

    async def pipe(self, forward: Forward, chunk: Chunk) -> None:
        await forward(chunk)

    def stop(self) -> None:
        """The toxic was removed, or the connection ended: cancel timers."""


class Toxic(BaseModel):
    """A fault's own attributes; subclasses are registered by `kind` and build its `Effect`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    kind: ClassVar[str]
    streams: ClassVar[tuple[Stream, ...]] = ("upstream", "downstream")

    def effect(self, flow: Flow) -> Effect:
        raise NotImplementedError


TOXICS: dict[str, type[Toxic]] = {}
T = TypeVar("T", bound=type[Toxic])


def register(cls: T) -> T:
    """Makes a toxic class known by its `kind` (the `type` of the API)."""
    TOXICS[cls.kind] = cls
    return cls


def applies(toxicity: float, rng: random.Random) -> bool:
    """The per-connection draw: True with probability `toxicity` (no draw at 0 or 1)."""
    return toxicity >= 1.0 or (toxicity > 0.0 and rng.random() < toxicity)


@dataclass(frozen=True, eq=False)
class InstalledToxic:
    """A toxic on a proxy: its name, the stream it acts on and its toxicity."""

    name: str
    stream: Stream
    toxicity: float
    toxic: Toxic

    def meet(self, flow: Flow) -> Effect | None:
        """The effect on a connection meeting this toxic now; None when the draw spared it."""
        return self.toxic.effect(flow) if applies(self.toxicity, flow.rng) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.toxic.kind,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.toxic.model_dump(),
        }


class TokenBucket:
    """Bytes allowed at `rate_bps` with bursts up to `burst` bytes; debt makes callers wait."""

    def __init__(self, rate_bps: float, burst: float, now: float) -> None:
        self.rate_bps = rate_bps
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def take(self, count: int, now: float) -> float:
        """Spends `count` bytes' tokens; returns how long to wait before sending them."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_bps)
        self.updated = now
        self.tokens -= count
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate_bps


def _later(delay_s: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
    return asyncio.get_running_loop().call_later(delay_s, callback)


@register
class Latency(Toxic):
    """Each chunk is delivered `latency_ms` ± `jitter_ms` after it was read, in order."""

    kind: ClassVar[str] = "latency"
    latency_ms: Milliseconds
    jitter_ms: Milliseconds = 0.0

    def effect(self, flow: Flow) -> Effect:
        return _Delay(self.latency_ms / 1000, self.jitter_ms / 1000, flow.rng)


class _Delay(Effect):
    def __init__(self, delay_s: float, jitter_s: float, rng: random.Random) -> None:
        self.delay_s, self.jitter_s, self.rng = delay_s, jitter_s, rng

    async def pipe(self, forward: Forward, chunk: Chunk) -> None:
        jitter = self.rng.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0
        chunk.delay_s += max(0.0, self.delay_s + jitter)
        await forward(chunk)


@register
class Bandwidth(Toxic):
    """At most `rate_kbps` kilobytes (1,000 bytes) per second, as a token bucket."""

    kind: ClassVar[str] = "bandwidth"
    rate_kbps: Annotated[Number, Field(ge=MIN_RATE_KBPS, le=MAX_RATE_KBPS)]

    def effect(self, flow: Flow) -> Effect:
        return _Throttle(self.rate_kbps * 1000)


class _Throttle(Effect):
    def __init__(self, rate_bps: float) -> None:
        self.piece = max(1, int(rate_bps * BURST_S))
        self.bucket = TokenBucket(rate_bps, self.piece, asyncio.get_running_loop().time())

    async def pipe(self, forward: Forward, chunk: Chunk) -> None:
        loop = asyncio.get_running_loop()
        for start in range(0, len(chunk.data), self.piece):
            piece = chunk.data[start : start + self.piece]
            wait_s = self.bucket.take(len(piece), loop.time())
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            await forward(Chunk(piece, chunk.delay_s))


@register
class Timeout(Toxic):
    """Swallows the data, then closes the connection after `timeout_ms` (0: never)."""

    kind: ClassVar[str] = "timeout"
    timeout_ms: Milliseconds

    def effect(self, flow: Flow) -> Effect:
        return _Swallow(_later(self.timeout_ms / 1000, flow.close) if self.timeout_ms else None)


class _Timer(Effect):
    def __init__(self, timer: asyncio.TimerHandle | None) -> None:
        self.timer = timer

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


class _Swallow(_Timer):
    close_delay_s = math.inf

    async def pipe(self, forward: Forward, chunk: Chunk) -> None:
        return None


@register
class ResetPeer(Toxic):
    """Resets the connection (TCP RST, SO_LINGER 0) `timeout_ms` after meeting it."""

    kind: ClassVar[str] = "reset_peer"
    timeout_ms: Milliseconds = 0.0

    def effect(self, flow: Flow) -> Effect:
        return _Timer(_later(self.timeout_ms / 1000, flow.reset))


@register
class SlowClose(Toxic):
    """Holds the end of the stream back for `delay_ms` before passing it on."""

    kind: ClassVar[str] = "slow_close"
    delay_ms: Milliseconds

    def effect(self, flow: Flow) -> Effect:
        effect = Effect()
        effect.close_delay_s = self.delay_ms / 1000
        return effect


@register
class LimitData(Toxic):
    """Closes the connection once `bytes` bytes went through (counted from meeting it)."""

    kind: ClassVar[str] = "limit_data"
    bytes: Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=MAX_LIMIT_BYTES)]

    def effect(self, flow: Flow) -> Effect:
        return _Limit(self.bytes, flow)


class _Limit(Effect):
    def __init__(self, limit: int, flow: Flow) -> None:
        self.left, self.flow = limit, flow
        if limit == 0:
            flow.close_after_pending()

    async def pipe(self, forward: Forward, chunk: Chunk) -> None:
        if self.left <= 0:
            return
        if len(chunk.data) > self.left:
            chunk.data = chunk.data[: self.left]
        self.left -= len(chunk.data)
        await forward(chunk)
        if self.left <= 0:
            self.flow.close_after_pending()


@register
class HttpStatus(Toxic):
    """Answers an HTTP/1.x request with `status` (and `body`) without contacting the upstream."""

    kind: ClassVar[str] = "http_status"
    streams: ClassVar[tuple[Stream, ...]] = ("upstream",)
    status: Annotated[int, BeforeValidator(_not_bool), Field(ge=200, le=599)] = 503
    body: Annotated[str, Field(max_length=MAX_BODY_CHARS)] | None = None

    def effect(self, flow: Flow) -> Effect:
        return _Answer(http_response(self.status, self.body), flow)


class _Answer(Effect):
    defers_connect = True

    def __init__(self, response: bytes, flow: Flow) -> None:
        self.response, self.flow = response, flow
        self.seen = b""
        self.verdict: bool | None = None  # None until the first bytes tell whether it is HTTP

    async def pipe(self, forward: Forward, chunk: Chunk) -> None:
        if self.verdict is False:
            await forward(chunk)
            return
        if self.verdict:
            return
        self.seen += chunk.data
        self.verdict = looks_like_http(self.seen)
        if self.verdict:
            self.flow.answer(self.response)
        elif self.verdict is False:
            chunk.data = self.seen
            await forward(chunk)
