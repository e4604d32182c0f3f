"""How far chaosmonkey's recovery time is from what an independent client sees.

Run: .venv/bin/python bench/recovery_error.py [--rounds 5]. Each round runs a fresh target
(restart policy always, START_DELAY=1, HTTP published on a fixed 127.0.0.1 port: an engine-chosen
port changes at each restart) and attacks it in-process through `Engine.run_policy` with an armed
policy: kill method crash, recovery probe http on the published port (interval 20ms, timeout
200ms), recovery timeout 20s. From just before the attack, observer threads poll the same port
every 5 ms: one asks for / over HTTP (the truth: the service answers again); one only connects
(50 ms timeout), which docker-proxy fools: it accepts as soon as the container runs, before the
server inside listens.
Error = |record.recovered_at - the HTTP observer's first success after its first failure|;
exits 1 when the max over the rounds exceeds 100 ms. Then, as information, a tcp probe (which
docker-proxy can fool the same way) and the backend-only judgement (no probe; an engine health
check every 50 ms) against the same observers.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _support as bench
import docker

from chaosmonkey import logs
from chaosmonkey.model import AttackRecord, Outcome
from chaosmonkey.policy import load_policy
from chaosmonkey.runtime import Runtime

TARGET_MS = 100.0
POLL_S = 0.005
OBSERVE_LIMIT_S = 30.0
FAULT = {"type": "kill", "method": "crash"}


def connects(port: int) -> bool:
    """A TCP connection to 127.0.0.1:`port` within 50 ms."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.05):
            return True
    except OSError:
        return False


def answers(port: int) -> bool:
    """An HTTP 200 for / from 127.0.0.1:`port` within 200 ms."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as connection:
            connection.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return connection.recv(64).split(b"\r\n")[0].endswith(b" 200 OK")
    except OSError:
        return False


class Observer(threading.Thread):
    """Polls `check` every 5 ms: the first failure, then the first success after it (epoch s)."""

    def __init__(self, check: Callable[[], bool]) -> None:
        super().__init__(daemon=True)
        self.check = check
        self.first_failure: float | None = None
        self.recovered: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + OBSERVE_LIMIT_S
        for _ in range(int(OBSERVE_LIMIT_S / POLL_S)):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            started = time.monotonic()
            ok = self.check()
            seen = time.time()
            if not ok and self.first_failure is None:
                self.first_failure = seen
            elif ok and self.first_failure is not None:
                self.recovered = seen
                return
            time.sleep(max(0.0, POLL_S - (time.monotonic() - started)))


@dataclass
class Round:
    record: AttackRecord
    connect: Observer
    http: Observer
    port_kept: bool

    def error_ms(self, observer: Observer) -> float:
        assert self.record.recovered_at is not None
        assert observer.recovered is not None
        return abs(self.record.recovered_at - observer.recovered) * 1000


def attack_round(
    client: docker.DockerClient, runtime: Runtime, workdir: Path, probe: str | None
) -> Round:
    """One fresh target, one attack through the engine, watched by both observers."""
    app, port = bench.unique_app(), bench.free_port()
    check = None if probe else bench.health_check(interval_s=0.05)
    env = {"START_DELAY": "1"}
    container = bench.run_target(
        client, app, restart="always", env=env, healthcheck=check, port=port
    )
    try:
        bench.wait_for(lambda: answers(port), f"{container.name} serving", 15)
        if check:
            bench.wait_healthy(container)
        recovery: dict[str, Any] = {"timeout": "20s"}
        if probe == "http":
            http = {"url": f"http://127.0.0.1:{port}/"}
            recovery["probe"] = {"http": http, "interval": "20ms", "timeout": "200ms"}
        elif probe == "tcp":
            tcp = {"host": "127.0.0.1", "port": port}
            recovery["probe"] = {"tcp": tcp, "interval": "20ms", "timeout": "200ms"}
        policy = load_policy(bench.write_policy(workdir, app, FAULT, recovery=recovery))
        observers = Observer(lambda: connects(port)), Observer(lambda: answers(port))
        for observer in observers:
            observer.start()
        time.sleep(0.05)  # the observers see the target up before the attack
        (record,) = runtime.engine.run_policy(policy, in_window_only=False)
        for observer in observers:
            observer.join(timeout=5)
            observer.stop.set()
        if record.outcome is not Outcome.RECOVERED:
            raise RuntimeError(f"attack did not recover: {record.outcome} {record.reason}")
        if None in (observers[0].recovered, observers[1].recovered):
            raise RuntimeError("an observer saw no outage and recovery")
        return Round(record, *observers, port_kept=bench.host_port(container) == port)
    finally:
        container.remove(force=True)


def engine_chosen_port_kept(client: docker.DockerClient) -> tuple[int | None, int | None]:
    """Host port of a target published as 127.0.0.1::8080, before and after a crash-restart."""
    container = bench.run_target(client, bench.unique_app(), restart="always")
    try:
        bench.wait_for(lambda: bench.host_port(container) is not None, "a published port", 15)
        before = bench.host_port(container)
        os.kill(int(bench.state(container)["Pid"]), signal.SIGKILL)

        def back() -> bool:
            port = bench.host_port(container)  # reloads the container's attributes
            return int(container.attrs["RestartCount"]) > 0 and port is not None

        bench.wait_for(back, "a restart with a published port", 15)
        return before, bench.host_port(container)
    finally:
        container.remove(force=True)


def report(name: str, rounds: list[Round]) -> tuple[float, float]:
    """Prints one mode's rounds; returns (median, max) error vs the HTTP observer, in ms."""
    print(f"{name}:")
    for index, done in enumerate(rounds, 1):
        injected = done.record.injected_at or 0.0
        print(
            f"  round {index}: recovery {done.record.recovery_seconds:.3f} s; observer connect "
            f"back at +{done.connect.recovered - injected:.3f} s, HTTP at "  # type: ignore[operator]
            f"+{done.http.recovered - injected:.3f} s; error vs connect "  # type: ignore[operator]
            f"{done.error_ms(done.connect):6.1f} ms, vs HTTP {done.error_ms(done.http):6.1f} ms; "
            f"port kept across restart: {done.port_kept}"
        )
    errors = [done.error_ms(done.http) for done in rounds]
    connect = [done.error_ms(done.connect) for done in rounds]
    print(
        f"  error vs HTTP observer: median {statistics.median(errors):.1f} ms, max "
        f"{max(errors):.1f} ms; vs connect observer: median {statistics.median(connect):.1f} ms, "
        f"max {max(connect):.1f} ms"
    )
    return statistics.median(errors), max(errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    logs.configure("warning")  # the engine's info lines would bury the figures
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp, bench.bench_session() as dc:
        workdir = Path(tmp)
        with Runtime.open(workdir / "journal.db") as runtime:
            probed = [attack_round(dc, runtime, workdir, "http") for _ in range(rounds)]
            tcp = [attack_round(dc, runtime, workdir, "tcp") for _ in range(rounds)]
            backend = [attack_round(dc, runtime, workdir, None) for _ in range(rounds)]
        before, after = engine_chosen_port_kept(dc)
    print(
        f"an engine-chosen host port (127.0.0.1::8080) across a restart: {before} -> {after} "
        f"({'kept' if before == after else 'CHANGED'}); the rounds publish a fixed port"
    )
    median, worst = report("http probe (interval 20ms) vs observers", probed)
    report("tcp probe (interval 20ms) through docker-proxy, information", tcp)
    report("backend only (health check every 50ms), information", backend)
    verdict = bench.verdict(worst <= TARGET_MS)
    print(
        f"SUMMARY recovery_error: http probe recovery error median {median:.1f} ms "
        f"max {worst:.1f} ms over {rounds} rounds, target <={TARGET_MS:.0f} ms: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
