"""Recovery judged by what a client sees: an HTTP or TCP probe polled beside the backend's watch."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from types import TracebackType

from chaosmonkey.backends.base import RecoveryWatch
from chaosmonkey.model import Observation
from chaosmonkey.policy.models import Probe

# How long a TCP probe waits for an accepted connection to be closed under it.
TCP_SETTLE_S = 0.05


def probe_once(probe: Probe) -> bool:
    """One check: True when the service answered as expected within the probe's timeout."""
    timeout = probe.timeout.total_seconds()
    if probe.tcp is not None:
        return _tcp_answers(probe.tcp.host, probe.tcp.port, timeout)
    assert probe.http is not None
    try:
        with urllib.request.urlopen(probe.http.url, timeout=timeout) as response:  # noqa: S310
            return int(response.status) == probe.http.expect_status
    except urllib.error.HTTPError as error:
        return error.code == probe.http.expect_status
    except (OSError, ValueError):
        return False


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
    """Impact is the backend's (the fault took effect); detection is the probe's first failure;
    recovery is the probe's first success after that failure. When the probe never fails, clients
    saw no outage: recovery is the moment of impact, once the backend's group is back."""

    def __init__(self, probe: Probe, backend_watch: RecoveryWatch) -> None:
        self._probe = probe
        self._inner = backend_watch
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._first_failure: float | None = None
        self._recovered: float | None = None
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
            started, asked = time.monotonic(), time.time()
            ok = probe_once(self._probe)
            with self._changed:
                if not ok and self._first_failure is None:
                    self._first_failure = time.time()  # seen failing once the check gave up
                elif ok and self._first_failure is not None and self._recovered is None:
                    self._recovered = asked  # it answered the check sent at this moment
                self._changed.notify_all()
            self._stopped.wait(max(0.0, interval - (time.monotonic() - started)))

    def wait_impact(self, deadline: float) -> float | None:
        return self._inner.wait_impact(deadline)

    def wait_recovered(self, deadline: float) -> Observation:
        impact = self._inner.wait_impact(deadline)
        if impact is None:
            return Observation(impact_at=None, recovered_at=None)
        with self._changed:
            while self._recovered is None and time.time() < deadline:
                if self._first_failure is None and self._backend_back():
                    return Observation(impact_at=impact, recovered_at=impact)
                self._changed.wait(timeout=min(0.05, max(0.0, deadline - time.time())))
            return Observation(impact_at=self._first_failure, recovered_at=self._recovered)

    def _backend_back(self) -> bool:
        return self._inner.wait_recovered(time.time()).recovered_at is not None
