"""Probes against real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from chaosmonkey.policy.models import Probe, TcpProbe
from chaosmonkey.recovery.probes import probe_once


def serve(close_at_once: bool) -> tuple[int, threading.Event]:
    """A listener that closes each connection at once, or holds it until told to stop."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        with listener:
            listener.settimeout(0.05)
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                if close_at_once:
                    connection.close()
                else:
                    stop.wait(1)
                    connection.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1], stop


@pytest.fixture
def stops() -> Iterator[list[threading.Event]]:
    events: list[threading.Event] = []
    yield events
    for event in events:
        event.set()


def tcp(port: int) -> Probe:
    return Probe(tcp=TcpProbe(host="127.0.0.1", port=port), timeout=timedelta(milliseconds=300))


def test_tcp_probe_accepts_a_listening_server(stops: list[threading.Event]) -> None:
    """A server that accepts and keeps the connection open answers the probe."""
    port, stop = serve(close_at_once=False)
    stops.append(stop)
    assert probe_once(tcp(port)) is True


def test_tcp_probe_refuses_a_proxy_with_nothing_behind_it(stops: list[threading.Event]) -> None:
    """A listener that closes every connection at once (docker-proxy before the container's
    server listens) does not count as recovered."""
    port, stop = serve(close_at_once=True)
    stops.append(stop)
    assert probe_once(tcp(port)) is False


def test_tcp_probe_fails_on_a_closed_port() -> None:
    """Nothing listening: refused, the probe fails."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    assert probe_once(tcp(port)) is False


def test_an_http_probe_waits_for_the_body_not_only_the_status() -> None:
    """A server that sends its status and headers at once and its body later (a CGI waiting on
    its own dependency): the probe has its answer only once the body came, as a client does."""
    listener = socket.create_server(("127.0.0.1", 0))
    body_may_go = threading.Event()

    def answer() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                body_may_go.wait(5)
                connection.sendall(b"the body\n")

    threading.Thread(target=answer, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    probe = Probe.model_validate({"http": {"url": url}, "timeout": "5s"})
    results: list[bool] = []
    probing = threading.Thread(target=lambda: results.append(probe_once(probe)))
    probing.start()
    probing.join(0.3)
    assert probing.is_alive(), "the probe returned before the body came"
    body_may_go.set()
    probing.join(5)
    assert results == [True]
