"""The fault proxy against real sockets on 127.0.0.1: each toxic's effect, measured.

The proxy and its control API run on an event loop in a background thread (the CLI tests run
the real command in a subprocess); the servers behind it are small threaded socket servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from chaosmonkey.proxy.control import start_control
from chaosmonkey.proxy.server import Proxies

LOCAL = "127.0.0.1"
HTTP_GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
Handle = Callable[[socket.socket], None]


class TcpServer:
    """A threaded server on a free loopback port; `handle` serves each connection."""

    def __init__(self, handle: Handle) -> None:
        self.accepted = 0
        lock = threading.Lock()

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner) -> None:  # noqa: N805 (the outer self is the server)
                with lock:
                    self.accepted += 1
                with contextlib.suppress(OSError):
                    handle(inner.request)

        self.server = socketserver.ThreadingTCPServer((LOCAL, 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def echo(sock: socket.socket) -> None:
    while data := sock.recv(65536):
        sock.sendall(data)


def source(size: int) -> Handle:
    """Sends `size` numbered bytes, then closes."""
    return lambda sock: sock.sendall(bytes(i % 251 for i in range(size)))


def sink(sock: socket.socket) -> None:
    """Reads to the end of the stream, then says how much it got."""
    total = 0
    while data := sock.recv(65536):
        total += len(data)
    sock.sendall(str(total).encode())


def http_ok(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data and (more := sock.recv(4096)):
        data += more
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


class Harness:
    """Proxies and their control API on an event loop in a thread, on free loopback ports."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxies = Proxies(rng=random.Random(20261123))
        self.runner, port = self.run(start_control(self.proxies, f"{LOCAL}:0"))
        self.api = f"http://{LOCAL}:{port}"
        self.names = (f"p{n}" for n in itertools.count())

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def proxy(self, upstream: str) -> tuple[str, int]:
        """A new proxy to `upstream`; its name and the port it listens on."""
        body = {"name": next(self.names), "listen": f"{LOCAL}:0", "upstream": upstream}
        response = requests.post(f"{self.api}/proxies", json=body, timeout=5)
        assert response.status_code == 201, response.text
        return body["name"], int(response.json()["listen"].rsplit(":", 1)[1])

    def toxic(self, proxy: str, type: str, **body: Any) -> str:
        response = requests.post(
            f"{self.api}/proxies/{proxy}/toxics", json={"type": type, **body}, timeout=5
        )
        assert response.status_code == 201, response.text
        return str(response.json()["name"])

    def remove(self, proxy: str, toxic: str) -> None:
        response = requests.delete(f"{self.api}/proxies/{proxy}/toxics/{toxic}", timeout=5)
        assert response.status_code == 204, response.text

    def close(self) -> None:
        self.run(self.runner.cleanup())
        self.run(self.proxies.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    """One proxy process-in-a-thread for the module; each test adds its own proxies."""
    started = Harness()
    yield started
    started.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handle], TcpServer]]:
    """Starts servers behind the proxy; all stop at the test's end."""
    servers: list[TcpServer] = []

    def start(handle: Handle) -> TcpServer:
        servers.append(TcpServer(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def connect(port: int, timeout_s: float = 5.0) -> socket.socket:
    sock = socket.create_connection((LOCAL, port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            raise AssertionError(f"EOF after {len(data)} of {size} bytes")
        data += more
    return data


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while more := sock.recv(65536):
        chunks.append(more)
    return b"".join(chunks)


def round_trip_ms(sock: socket.socket, size: int = 64) -> float:
    payload = bytes(range(size % 256)) * (size // 256) + bytes(size % 256)
    start = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, size) == payload
    return (time.perf_counter() - start) * 1000


def median_round_trip_ms(sock: socket.socket, count: int = 7) -> float:
    return statistics.median(round_trip_ms(sock) for _ in range(count))


def assert_near_ms(measured: float, expected: float) -> None:
    """Within 10% of `expected` or 5 ms, whichever is larger."""
    assert abs(measured - expected) <= max(0.1 * expected, 5.0), (measured, expected)


@pytest.fixture
def echo_proxy(harness: Harness, serve: Callable[[Handle], TcpServer]) -> tuple[str, int]:
    """A proxy in front of an echo server: (name, port)."""
    return harness.proxy(f"{LOCAL}:{serve(echo).port}")


def test_without_toxics_bytes_pass_both_ways(echo_proxy: tuple[str, int]) -> None:
    """1 MB goes through and comes back unchanged."""
    payload = random.Random(1).randbytes(1_000_000)
    with connect(echo_proxy[1]) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        assert recv_exactly(sock, len(payload)) == payload
        sender.join(timeout=5)


@pytest.mark.timing
@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_latency_adds_its_delay(harness: Harness, echo_proxy: tuple[str, int], stream: str) -> None:
    """A 100 ms latency toxic adds 100 ms to a round trip (within 10% or 5 ms)."""
    name, port = echo_proxy
    with connect(port) as sock:
        baseline = median_round_trip_ms(sock)
        harness.toxic(name, "latency", stream=stream, attributes={"latency_ms": 100})
        assert_near_ms(median_round_trip_ms(sock) - baseline, 100)


def test_latency_delays_each_chunk_without_holding_up_reading(
    harness: Harness, echo_proxy: tuple[str, int]
) -> None:
    """Chunks sent 40 ms apart each arrive 200 ms after they were sent, not one after another."""
    name, port = echo_proxy
    harness.toxic(name, "latency", attributes={"latency_ms": 200})
    with connect(port) as sock:
        sent = []
        for index in range(5):
            sent.append(time.perf_counter())
            sock.sendall(bytes([index]) * 10)
            time.sleep(0.04)
        for index, sent_at in enumerate(sent):
            assert recv_exactly(sock, 10) == bytes([index]) * 10
            assert_near_ms((time.perf_counter() - sent_at) * 1000, 200)


@pytest.mark.timing
def test_jitter_varies_the_delay_within_its_bounds(
    harness: Harness, echo_proxy: tuple[str, int]
) -> None:
    """Latency 50 ± 20 ms: every round trip adds 30 to 70 ms, and they are not all alike."""
    name, port = echo_proxy
    harness.toxic(name, "latency", attributes={"latency_ms": 50, "jitter_ms": 20})
    with connect(port) as sock:
        samples = [round_trip_ms(sock) for _ in range(15)]
    assert all(30 - 5 <= sample <= 70 + 5 for sample in samples), samples
    assert max(samples) - min(samples) > 5, samples


@pytest.mark.timing
@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_bandwidth_caps_the_rate(
    harness: Harness, serve: Callable[[Handle], TcpServer], stream: str
) -> None:
    """200 kB/s: 400 kB take 2 s (within 20%), in either direction."""
    size = 400_000
    server = serve(source(size) if stream == "downstream" else sink)
    name, port = harness.proxy(f"{LOCAL}:{server.port}")
    harness.toxic(name, "bandwidth", stream=stream, attributes={"rate_kbps": 200})
    with connect(port, timeout_s=10) as sock:
        start = time.perf_counter()
        if stream == "downstream":
            assert len(recv_all(sock)) == size
        else:
            sock.sendall(bytes(size))
            sock.shutdown(socket.SHUT_WR)
            assert recv_all(sock) == str(size).encode()
        elapsed_s = time.perf_counter() - start
    assert abs(elapsed_s - 2.0) <= 0.4, elapsed_s


def test_timeout_swallows_data_then_closes(harness: Harness, echo_proxy: tuple[str, int]) -> None:
    """timeout 300 ms: nothing comes back, and the connection is closed after 300 ms."""
    name, port = echo_proxy
    harness.toxic(name, "timeout", attributes={"timeout_ms": 300})
    with connect(port) as sock:
        start = time.perf_counter()
        sock.sendall(b"hello")
        assert recv_all(sock) == b""
        elapsed_ms = (time.perf_counter() - start) * 1000
    assert 300 - 5 <= elapsed_ms <= 400, elapsed_ms


def test_timeout_zero_blackholes_until_removed(
    harness: Harness, echo_proxy: tuple[str, int]
) -> None:
    """timeout 0 holds the connection open with no data; once removed, data flows again."""
    name, port = echo_proxy
    toxic = harness.toxic(name, "timeout", attributes={"timeout_ms": 0})
    with connect(port, timeout_s=0.5) as sock:
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        harness.remove(name, toxic)
        sock.settimeout(5)
        sock.sendall(b"again")
        assert recv_exactly(sock, 5) == b"again"


def test_reset_peer_resets_the_connection(harness: Harness, echo_proxy: tuple[str, int]) -> None:
    """reset_peer 200 ms: data passes until then, then recv raises ConnectionResetError."""
    name, port = echo_proxy
    harness.toxic(name, "reset_peer", attributes={"timeout_ms": 200})
    with connect(port) as sock:
        start = time.perf_counter()
        assert round_trip_ms(sock) < 100
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
        elapsed_ms = (time.perf_counter() - start) * 1000
    assert 200 - 5 <= elapsed_ms <= 300, elapsed_ms


def test_slow_close_holds_back_the_end_of_the_stream(
    harness: Harness, serve: Callable[[Handle], TcpServer]
) -> None:
    """slow_close 300 ms: the data comes at once, the server's close 300 ms later."""
    name, port = harness.proxy(f"{LOCAL}:{serve(source(3)).port}")
    harness.toxic(name, "slow_close", attributes={"delay_ms": 300})
    with connect(port) as sock:
        assert recv_exactly(sock, 3) == bytes([0, 1, 2])
        data_at = time.perf_counter()
        assert sock.recv(10) == b""
        assert_near_ms((time.perf_counter() - data_at) * 1000, 300)


def test_limit_data_closes_after_the_limit(
    harness: Harness, serve: Callable[[Handle], TcpServer]
) -> None:
    """limit_data 1000: of 5000 bytes sent, exactly the first 1000 arrive, then the end."""
    name, port = harness.proxy(f"{LOCAL}:{serve(source(5000)).port}")
    harness.toxic(name, "limit_data", attributes={"bytes": 1000})
    with connect(port) as sock:
        assert recv_all(sock) == bytes(i % 251 for i in range(1000))


def http_status_of(port: int) -> int:
    with connect(port) as sock:
        sock.sendall(HTTP_GET)
        answer = recv_all(sock)
    return int(answer.split(b" ", 2)[1])


def test_http_status_answers_without_contacting_the_upstream(
    harness: Harness, serve: Callable[[Handle], TcpServer]
) -> None:
    """http_status 503 with toxicity 1: every request gets 503; the server sees no connection."""
    server = serve(http_ok)
    name, port = harness.proxy(f"{LOCAL}:{server.port}")
    harness.toxic(name, "http_status", stream="upstream", attributes={"status": 503})
    assert [http_status_of(port) for _ in range(10)] == [503] * 10
    assert server.accepted == 0


def test_http_status_lets_other_protocols_through(
    harness: Harness, echo_proxy: tuple[str, int]
) -> None:
    """Bytes that are not an HTTP/1.x request pass unchanged, both ways."""
    name, port = echo_proxy
    harness.toxic(name, "http_status", stream="upstream", attributes={"status": 500})
    with connect(port) as sock:
        payload = b"\x16\x03\x01 not http\r\n"
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        assert round_trip_ms(sock) < 100


def test_http_status_toxicity_half_hits_about_half(
    harness: Harness, serve: Callable[[Handle], TcpServer]
) -> None:
    """Toxicity 0.5 over 200 connections: 503s within 5 sigma of 100; the rest reach the server."""
    server = serve(http_ok)
    name, port = harness.proxy(f"{LOCAL}:{server.port}")
    harness.toxic(name, "http_status", stream="upstream", toxicity=0.5, attributes={"status": 503})
    statuses = [http_status_of(port) for _ in range(200)]
    hits = statuses.count(503)
    assert abs(hits - 100) <= 5 * (200 * 0.25) ** 0.5, hits
    assert statuses.count(200) == server.accepted == 200 - hits


def test_toxics_apply_to_connections_already_open(
    harness: Harness, echo_proxy: tuple[str, int]
) -> None:
    """A connection opened before the toxics feels latency, then a blackhole, as they come."""
    name, port = echo_proxy
    with connect(port, timeout_s=0.5) as sock:
        baseline = median_round_trip_ms(sock)
        latency = harness.toxic(name, "latency", attributes={"latency_ms": 100})
        assert_near_ms(median_round_trip_ms(sock, 3) - baseline, 100)
        harness.remove(name, latency)
        harness.toxic(name, "timeout", stream="upstream", attributes={"timeout_ms": 0})
        sock.sendall(b"x")
        with pytest.raises(TimeoutError):
            sock.recv(1)


def numbered(start: int, count: int) -> bytes:
    return b"".join(number.to_bytes(4, "big") for number in range(start, start + count))


def test_what_latency_held_back_is_sent_at_once_when_it_is_removed(
    harness: Harness, echo_proxy: tuple[str, int]
) -> None:
    """An answer held back by a 3 s latency arrives as soon as the toxic goes, not 3 s after
    it was sent: a fault that ends ends now."""
    name, port = echo_proxy
    toxic = harness.toxic(name, "latency", attributes={"latency_ms": 3000})
    with connect(port, timeout_s=10) as sock:
        sent_at = time.monotonic()
        sock.sendall(b"ping")
        time.sleep(0.3)
        harness.remove(name, toxic)
        assert recv_exactly(sock, 4) == b"ping"
        assert time.monotonic() - sent_at < 1.0


def test_removing_latency_mid_stream_keeps_every_byte_in_order(
    harness: Harness, echo_proxy: tuple[str, int]
) -> None:
    """A numbered stream echoed while latency with jitter comes and goes arrives whole, in order."""
    name, port = echo_proxy
    per_chunk, chunks = 256, 300
    with connect(port, timeout_s=10) as sock:

        def send() -> None:
            for index in range(chunks):
                sock.sendall(numbered(index * per_chunk, per_chunk))
                time.sleep(0.004)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.3)
        toxic = harness.toxic(name, "latency", attributes={"latency_ms": 150, "jitter_ms": 50})
        time.sleep(0.5)
        harness.remove(name, toxic)
        received = recv_exactly(sock, 4 * per_chunk * chunks)
        sender.join(timeout=10)
        assert received == numbered(0, per_chunk * chunks)
        assert round_trip_ms(sock) < 100


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/proxies", {}, 400, "name: required field is missing"),
        ("POST", "/proxies", {"name": "x", "listen": "nope", "upstream": "h:1"}, 400, "listen:"),
        ("POST", "/proxies", {"name": "x", "listen": "h:1", "upstream": "h"}, 400, "upstream:"),
        ("POST", "/proxies", {"name": "x", "bogus": 1}, 400, "bogus: unknown field"),
        ("POST", "/proxies", [1, 2], 400, "body: expected a JSON object"),
        ("GET", "/proxies/missing", None, 404, "no proxy named 'missing'"),
        ("DELETE", "/proxies/missing", None, 404, "no proxy named 'missing'"),
        ("POST", "/proxies/missing/toxics", {"type": "latency"}, 404, "no proxy named"),
        ("GET", "/nowhere", None, 404, "GET /nowhere"),
    ],
)
def test_control_api_errors_name_what_is_wrong(
    harness: Harness, method: str, path: str, body: Any, status: int, message: str
) -> None:
    """Bad bodies are 400 naming the field, unknown names 404, with one JSON message."""
    response = requests.request(method, harness.api + path, json=body, timeout=5)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_control_api_toxic_errors(harness: Harness, echo_proxy: tuple[str, int]) -> None:
    """Toxic bodies: bad JSON and attributes are 400, names in use 409, unknown toxics 404."""
    name, _ = echo_proxy
    url = f"{harness.api}/proxies/{name}/toxics"
    json_type = {"Content-Type": "application/json"}
    bad_json = requests.post(url, data="{nope", headers=json_type, timeout=5)
    assert bad_json.status_code == 400
    assert "body: expected JSON" in bad_json.json()["error"]
    bad = requests.post(url, json={"type": "latency", "attributes": {"latency_ms": "x"}}, timeout=5)
    assert bad.status_code == 400
    assert "attributes.latency_ms" in bad.json()["error"]
    harness.toxic(name, "latency", name="slow", attributes={"latency_ms": 1})
    again = requests.post(
        url, json={"type": "slow_close", "name": "slow", "attributes": {"delay_ms": 1}}, timeout=5
    )
    assert again.status_code == 409
    assert "'slow'" in again.json()["error"]
    missing = requests.delete(f"{url}/absent", timeout=5)
    assert missing.status_code == 404
    assert "no toxic 'absent'" in missing.json()["error"]


def test_control_api_refuses_a_name_or_port_in_use(
    harness: Harness, echo_proxy: tuple[str, int]
) -> None:
    """A second proxy with the same name is 409; one on a port in use is 400 naming listen."""
    name, port = echo_proxy
    same_name = {"name": name, "listen": f"{LOCAL}:0", "upstream": f"{LOCAL}:9"}
    taken = requests.post(f"{harness.api}/proxies", json=same_name, timeout=5)
    assert taken.status_code == 409
    same_port = {"name": "other", "listen": f"{LOCAL}:{port}", "upstream": f"{LOCAL}:9"}
    in_use = requests.post(f"{harness.api}/proxies", json=same_port, timeout=5)
    assert in_use.status_code == 400
    assert "listen: cannot listen" in in_use.json()["error"]


def test_reset_removes_every_toxic(harness: Harness, echo_proxy: tuple[str, int]) -> None:
    """POST /reset leaves no toxic and open connections fast again."""
    name, port = echo_proxy
    with connect(port) as sock:
        harness.toxic(name, "latency", attributes={"latency_ms": 200})
        assert round_trip_ms(sock) >= 195
        assert requests.post(f"{harness.api}/reset", timeout=5).status_code == 204
        assert requests.get(f"{harness.api}/proxies/{name}/toxics", timeout=5).json() == []
        assert round_trip_ms(sock) < 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def proxy_command(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """`chaosmonkey proxy ARGS` in a subprocess; killed at the end if still running."""
    command = [sys.executable, "-m", "chaosmonkey", "proxy", *args]
    environment = {**os.environ, **env} if env else None
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: it never fills up
        process = subprocess.Popen(command, stderr=log, text=True, env=environment)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def wait_for_api(api: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(requests.ConnectionError):
            requests.get(f"{api}/proxies", timeout=1)
            return
        time.sleep(0.05)
    raise AssertionError(f"the control API at {api} never answered")


def test_command_serves_toxics_and_stops_on_sigterm(
    serve: Callable[[Handle], TcpServer],
) -> None:
    """`chaosmonkey proxy`: a toxic added over HTTP shows, SIGTERM ends it with exit 0."""
    listen, control = free_port(), free_port()
    upstream = serve(echo).port
    api = f"http://{LOCAL}:{control}"
    args = ["--listen", f"{LOCAL}:{listen}", "--upstream", f"{LOCAL}:{upstream}"]
    with proxy_command(*args, "--control", f"{LOCAL}:{control}", "--name", "web") as process:
        wait_for_api(api, process)
        with connect(listen) as sock:
            baseline = median_round_trip_ms(sock)
            body = {"type": "latency", "attributes": {"latency_ms": 100}}
            assert requests.post(f"{api}/proxies/web/toxics", json=body, timeout=5).ok
            assert_near_ms(median_round_trip_ms(sock, 3) - baseline, 100)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_command_runs_the_proxies_of_a_config_file(
    tmp_path: Path, serve: Callable[[Handle], TcpServer]
) -> None:
    """--config FILE: its proxies listen with their toxics from the start."""
    listen, control = free_port(), free_port()
    config = tmp_path / "proxy.yaml"
    config.write_text(
        f"control: {LOCAL}:{control}\nproxies:\n"
        f"  - {{name: http, listen: '{LOCAL}:{listen}', upstream: '{LOCAL}:{serve(http_ok).port}',"
        " toxics: [{type: http_status, stream: upstream, attributes: {status: 418}}]}\n"
    )
    with proxy_command("--config", str(config)) as process:
        wait_for_api(f"http://{LOCAL}:{control}", process)
        assert http_status_of(listen) == 418
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_command_guards_its_api_with_the_token_of_its_environment(
    serve: Callable[[Handle], TcpServer],
) -> None:
    """CHAOSMONKEY_PROXY_TOKEN: 401 without it, served with it; a browser origin is 403 and
    an upstream off loopback 403 unless --allow-upstream names its network."""
    token = "integration-token-0123456789"  # noqa: S105 (a test token)
    listen, control = free_port(), free_port()
    api = f"http://{LOCAL}:{control}"
    args = ["--listen", f"{LOCAL}:{listen}", "--upstream", f"{LOCAL}:{serve(echo).port}"]
    args += ["--control", f"{LOCAL}:{control}", "--allow-upstream", "192.0.2.0/24"]
    with proxy_command(*args, env={"CHAOSMONKEY_PROXY_TOKEN": token}) as process:
        wait_for_api(api, process)
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{api}/proxies", timeout=5).status_code == 401
        assert requests.get(f"{api}/proxies", headers=bearer, timeout=5).status_code == 200
        cross_site = {**bearer, "Origin": "http://evil.example"}
        assert requests.post(f"{api}/reset", headers=cross_site, timeout=5).status_code == 403
        for upstream, status in [("198.51.100.1:80", 403), ("192.0.2.1:80", 201)]:
            body = {"name": f"u{status}", "listen": f"{LOCAL}:0", "upstream": upstream}
            made = requests.post(f"{api}/proxies", json=body, headers=bearer, timeout=5)
            assert made.status_code == status, made.text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nowhere", "--upstream", f"{LOCAL}:9"], "--listen: expected HOST:PORT"),
        (["--listen", f"{LOCAL}:0", "--upstream", "h:99999"], "--upstream: expected HOST:PORT"),
        (["--listen", f"{LOCAL}:0"], "--upstream: required"),
        (["--listen", f"{LOCAL}:0", "--upstream", f"{LOCAL}:9", "--token", "short"], "--token:"),
    ],
)
def test_command_refuses_bad_addresses_in_one_line(args: list[str], message: str) -> None:
    """A bad address is one line on stderr and exit 2."""
    result = subprocess.run(
        [sys.executable, "-m", "chaosmonkey", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message)
    assert "\n" not in result.stderr.strip()
