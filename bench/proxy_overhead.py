"""What `chaosmonkey proxy` costs with no fault: added latency, and throughput against haproxy.

Latency: 1 KB request/response over one persistent connection, round trips alternating between
a direct loopback connection and one through the proxy (2,000 each after warm-up); the added
p50 and p99 are the differences of the two distributions. Throughput: 64 KB chunks for ~3 s
to a sink, directly, through the proxy and through Debian's haproxy in TCP mode (one thread,
as the proxy is one event loop). Servers, proxy and haproxy are separate processes, on
127.0.0.1 only; everything started is stopped at the end.

Run: .venv/bin/python bench/proxy_overhead.py [--round-trips 2000] [--seconds 3] (it installs
haproxy with apt-get when missing). Exits 1 when the added latency misses its targets
(p50 <= 300 us, p99 <= 1 ms); the throughput goal (within 2x of haproxy) is reported only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

P50_TARGET_US, P99_TARGET_US, HAPROXY_GOAL = 300.0, 1000.0, 2.0
CHUNK = 64 * 1024
LOCAL = "127.0.0.1"
SERVER = """
import socket, sys, threading
def echo(conn):
    buf = bytearray(65536)
    while n := conn.recv_into(buf):
        conn.sendall(memoryview(buf)[:n])
def sink(conn):
    buf, total = bytearray(1 << 20), 0
    while n := conn.recv_into(buf):
        total += n
    conn.sendall(str(total).encode())
def serve(conn, handle):
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handle(conn)
handle = echo if sys.argv[1] == "echo" else sink
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn, handle), daemon=True).start()
"""
HAPROXY_CFG = """global
    nbthread 1
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:{listen}
    default_backend sink
backend sink
    server sink 127.0.0.1:{upstream}
"""


@contextlib.contextmanager
def process(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    """A subprocess, terminated (then killed) when the block ends."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def server(kind: str) -> Iterator[int]:
    """An echo or sink server in its own process; yields its port."""
    with process([sys.executable, "-c", SERVER, kind]) as proc:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOCAL, port), timeout=1):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} never listened on {LOCAL}:{port}")


@contextlib.contextmanager
def chaosmonkey_proxy(echo_port: int, sink_port: int) -> Iterator[tuple[int, int]]:
    """`chaosmonkey proxy` relaying to the echo server and to the sink; yields both ports."""
    echo_via, sink_via, control = free_port(), free_port(), free_port()
    args = ["--listen", f"{LOCAL}:{echo_via}", "--upstream", f"{LOCAL}:{echo_port}"]
    command = [sys.executable, "-m", "chaosmonkey", "--log-level", "warning", "proxy", *args]
    with process([*command, "--control", f"{LOCAL}:{control}"]):
        wait_listening(control, "the proxy's control API")
        body = {"name": "sink", "listen": f"{LOCAL}:{sink_via}", "upstream": f"{LOCAL}:{sink_port}"}
        requests.post(f"http://{LOCAL}:{control}/proxies", json=body, timeout=5).raise_for_status()
        yield echo_via, sink_via


def find_haproxy() -> str:
    """The haproxy binary, installed from Debian's packages first when missing."""
    if found := shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy"):
        return found
    print("haproxy is missing: apt-get install -y haproxy", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "haproxy"]
    if subprocess.run(install, env=env, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True)
        subprocess.run(install, env=env, check=False, capture_output=True)
    if found := shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy"):
        return found
    raise SystemExit("haproxy could not be installed (apt-get install -y haproxy, as root)")


@contextlib.contextmanager
def haproxy(sink_port: int) -> Iterator[int]:
    """Debian's haproxy in TCP mode, in the foreground (-db), relaying to the sink."""
    binary = find_haproxy()
    listen = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-haproxy-") as directory:
        config = Path(directory) / "haproxy.cfg"
        config.write_text(HAPROXY_CFG.format(listen=listen, upstream=sink_port))
        with process([binary, "-db", "-f", str(config)]):
            wait_listening(listen, "haproxy")
            yield listen


def connect(port: int) -> socket.socket:
    sock = socket.create_connection((LOCAL, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip_us(sock: socket.socket, payload: bytes, buffer: bytearray) -> float:
    start = time.perf_counter_ns()
    sock.sendall(payload)
    received = 0
    while received < len(payload):
        received += sock.recv_into(memoryview(buffer)[received:])
    return (time.perf_counter_ns() - start) / 1000


def latencies_us(direct_port: int, proxy_port: int, rounds: int) -> tuple[list[float], list[float]]:
    """Round trips of 1 KB, alternating direct and through the proxy, after a warm-up."""
    payload, buffer = bytes(range(256)) * 4, bytearray(1024)
    with connect(direct_port) as direct, connect(proxy_port) as proxied:
        for _ in range(200):
            round_trip_us(direct, payload, buffer)
            round_trip_us(proxied, payload, buffer)
        pairs = [
            (round_trip_us(direct, payload, buffer), round_trip_us(proxied, payload, buffer))
            for _ in range(rounds)
        ]
    return [d for d, _ in pairs], [p for _, p in pairs]


def throughput_mb_s(port: int, seconds: float) -> float:
    """MB/s (10^6 bytes) that reached the sink, sending 64 KB chunks for `seconds`."""
    chunk = bytes(CHUNK)
    with connect(port) as sock:
        start, sent = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            sock.sendall(chunk)
            sent += CHUNK
        sock.shutdown(socket.SHUT_WR)
        received = int(sock.recv(64))
        elapsed_s = time.perf_counter() - start
    assert received == sent, (received, sent)
    return received / elapsed_s / 1e6


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report_latency(direct: list[float], proxied: list[float]) -> tuple[float, float]:
    rows = {"direct": direct, "proxy": proxied}
    for name, values in rows.items():
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        print(f"  {name:8} p50 {p50:7.1f} us  p99 {p99:7.1f} us  max {max(values):7.1f} us")
    added_p50 = statistics.median(proxied) - statistics.median(direct)
    added_p99 = percentile(proxied, 0.99) - percentile(direct, 0.99)
    print(f"  added    p50 {added_p50:7.1f} us  p99 {added_p99:7.1f} us")
    return added_p50, added_p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    options = parser.parse_args()
    with server("echo") as echo_port, server("sink") as sink_port:
        with chaosmonkey_proxy(echo_port, sink_port) as (echo_via, sink_via):
            direct, proxied = latencies_us(echo_port, echo_via, options.round_trips)
            print(f"latency, 1 KB request/response, {options.round_trips} round trips each:")
            added_p50, added_p99 = report_latency(direct, proxied)
            rates = {"direct": throughput_mb_s(sink_port, options.seconds)}
            rates["proxy"] = throughput_mb_s(sink_via, options.seconds)
        with haproxy(sink_port) as haproxy_port:
            rates["haproxy"] = throughput_mb_s(haproxy_port, options.seconds)
    print(f"throughput, 64 KB chunks for {options.seconds:.0f} s:")
    for name, rate in rates.items():
        print(f"  {name:8} {rate:8.0f} MB/s")
    ratio = rates["haproxy"] / rates["proxy"]
    print(f"  haproxy / proxy: {ratio:.2f} (goal <= {HAPROXY_GOAL:.0f}, reported only)")
    passed = added_p50 <= P50_TARGET_US and added_p99 <= P99_TARGET_US
    print(
        f"SUMMARY proxy_overhead: added latency p50 {added_p50:.0f} us (target <= "
        f"{P50_TARGET_US:.0f}), p99 {added_p99:.0f} us (target <= {P99_TARGET_US:.0f}); "
        f"throughput proxy {rates['proxy']:.0f} MB/s vs haproxy {rates['haproxy']:.0f} MB/s "
        f"(haproxy/proxy {ratio:.2f}, goal <= {HAPROXY_GOAL:.0f}: "
        f"{'met' if ratio <= HAPROXY_GOAL else 'missed'}), direct {rates['direct']:.0f} MB/s: "
        f"{'PASS' if passed else 'FAIL'}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
