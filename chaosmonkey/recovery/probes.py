"""Recovery as a client sees it: an HTTP or TCP probe polled beside the backend's watch."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from types import TracebackType

from chaosmonkey.backends.base import RecoveryWatch
from chaosmonkey.model import Observation
from chaosmonkey.policy.models import Probe
from chaosmonkey.recovery.service import Sample, ServiceTracker, Verdict

# How long a TCP probe waits for an accepted connection to be closed under it.
TCP_SETTLE_S = 0.05


# A probe reads the whole answer, as a client does, up to this much (the rest is not waited for).
MAX_BODY_BYTES = 16 * 1024 * 1024
_READ_BYTES = 64 * 1024


def probe_once(probe: Probe) -> bool:
    """One check: True when the service answered as expected within the probe's timeout; the
    answer counts once its body has arrived (its status alone may come well before)."""
    timeout = probe.timeout.total_seconds()
    if probe.tcp is not None:
        return _tcp_answers(probe.tcp.host, probe.tcp.port, timeout)
    assert probe.http is not None
    try:
        with urllib.request.urlopen(probe.http.url, timeout=timeout) as response:  # noqa: S310
            _read_body(response)
            return int(response.status) == probe.http.expect_status
    except urllib.error.HTTPError as error:
        return error.code == probe.http.expect_status
    except (OSError, ValueError, http.client.HTTPException):
        return False


def _read_body(response: http.client.HTTPResponse) -> None:
    """Reads and drops the body, up to MAX_BODY_BYTES."""
    left = MAX_BODY_BYTES
    while left > 0 and (chunk := response.read(min(_READ_BYTES, left))):
        left -= len(chunk)


def _tcp_answers(host: str, port: int, timeout: float) -> bool:
    """Connected, and not closed at once: a proxy in front of a port (docker-proxy) accepts the
    connection while nothing listens behind it, then closes it right away."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.settimeout(min(timeout, TCP_SETTLE_S))
            try:
                return connection.recv(1, socket.MSG_PEEK) != b""
            except TimeoutError:
                return True  # open and silent: a server that waits for the client to speak
    except OSError:
        return False


class ProbeWatch:
    """The backend's watch over the target (impact is the fault taking effect, recovery the
    target's group back), with the service as a probe sees it beside: one request every
    `interval` from entry to exit, each judged good, slow (over `maxLatency`) or failed.

    `wait_recovered` returns once the target is back and the service has settled (never hurt,
    or good for a few samples in a row since it was), or at the deadline."""

    def __init__(self, probe: Probe, backend_watch: RecoveryWatch) -> None:
        self._probe = probe
        self._inner = backend_watch
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._tracker = ServiceTracker()
        self._thread = threading.Thread(target=self._poll, name="probe", daemon=True)

    def __enter__(self) -> ProbeWatch:
        self._inner.__enter__()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._thread.join()
        self._inner.__exit__(exc_type, exc, tb)

    def _poll(self) -> None:
        interval = self._probe.interval.total_seconds()
        while not self._stopped.is_set():
            started, sent_at = time.monotonic(), time.time()
            sample = judge(self._probe, sent_at, probe_once(self._probe), time.time())
            with self._changed:
                self._tracker.add(sample)
                self._changed.notify_all()
            self._stopped.wait(max(0.0, interval - (time.monotonic() - started)))

    def wait_impact(self, deadline: float) -> float | None:
        return self._inner.wait_impact(deadline)

    def wait_recovered(self, deadline: float) -> Observation:
        target = self._inner.wait_recovered(deadline)
        with self._changed:
            self._changed.wait_for(
                lambda: self._tracker.settled, timeout=max(0.0, deadline - time.time())
            )
            service = self._tracker.observation()
        return Observation(target.impact_at, target.recovered_at, service)


def describe(probe: Probe | None) -> str:
    """What a probe asks, for messages: its URL, or host:port."""
    if probe is None:
        return "no probe"
    if probe.http is not None:
        return probe.http.url
    assert probe.tcp is not None
    return f"tcp {probe.tcp.host}:{probe.tcp.port}"


def judge(probe: Probe, sent_at: float, answered: bool, judged_at: float) -> Sample:
    """One probe request as a sample: failed, slow (over maxLatency) or good."""
    slow = probe.max_latency is not None and judged_at - sent_at > probe.max_latency.total_seconds()
    verdict = Verdict.FAILED if not answered else Verdict.SLOW if slow else Verdict.GOOD
    return Sample(sent_at, judged_at, verdict)
