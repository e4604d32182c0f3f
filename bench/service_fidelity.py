"""What the monkey records of a service against what its client saw, over many attacks.

Run: .venv/bin/python bench/service_fidelity.py [--rounds 20]. Each round: one replica (the
target image: busybox httpd on 8080, health on 8081) behind Debian's haproxy (checks on 8081
every 200 ms), a client sending requests through it one after another (every 20 ms), and one
attack through `Engine.run_policy` with a recovery probe on the balancer's URL (every 100 ms,
maxLatency 200 ms). Two faults, `--rounds` each:
- kill: the replica crashed, back after START_DELAY=1 s (restart policy always);
- latency: 300 ms on what the replica serves (ingress, port 8080) for 2 s.
For each: the service's recovery the monkey recorded against the client's (the answer of its
first good request after its last bad one), and the degraded seconds of both; median and max
of the differences. Exits 1 when a round's recovery differs by more than 100 ms plus the probe's
interval, or its degraded seconds by more than 10 % (the tests' criteria).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _support as bench
import docker

sys.path.insert(0, str(bench.ROOT))

from chaosmonkey import logs
from chaosmonkey.model import Outcome
from chaosmonkey.policy import load_policy
from chaosmonkey.runtime import Runtime
from tests.integration.balanced import (
    MAX_LATENCY_S,
    PROBE_INTERVAL_S,
    balancer,
    client_back_at,
    sending,
)

HEALTH_PORT = 8081
BACK_TOLERANCE_S = 0.1 + PROBE_INTERVAL_S
DEGRADED_TOLERANCE = 0.10
FAULTS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "kill": ({"type": "kill", "method": "crash"}, {"START_DELAY": "1"}),
    "latency": ({"type": "latency", "delay": "300ms", "ports": [8080], "duration": "2s"}, {}),
}


@dataclass(frozen=True)
class Round:
    injected_at: float
    monkey_back_at: float
    client_back_at: float
    monkey_degraded_s: float
    client_degraded_s: float

    @property
    def back_diff_s(self) -> float:
        return abs(self.monkey_back_at - self.client_back_at)

    @property
    def degraded_diff(self) -> float:
        return abs(self.monkey_degraded_s - self.client_degraded_s) / self.client_degraded_s

    @property
    def within(self) -> bool:
        return self.back_diff_s <= BACK_TOLERANCE_S and self.degraded_diff <= DEGRADED_TOLERANCE


def attack_round(
    client: docker.DockerClient, runtime: Runtime, workdir: Path, fault: str
) -> Round:
    """One fresh replica behind a fresh balancer, one attack, the client watching."""
    spec, env = FAULTS[fault]
    app = bench.unique_app()
    check = bench.health_check(interval_s=0.1)
    replica = bench.run_target(client, app, restart="always", env=env, healthcheck=check)
    try:
        bench.wait_healthy(replica)
        with balancer(workdir, bench.free_port(), [replica], "first", HEALTH_PORT) as url:
            probe = {"http": {"url": url}, "interval": f"{int(PROBE_INTERVAL_S * 1000)}ms",
                     "timeout": "3s", "maxLatency": f"{int(MAX_LATENCY_S * 1000)}ms"}
            recovery = {"timeout": "20s", "probe": probe}
            policy = load_policy(bench.write_policy(workdir, app, spec, recovery=recovery))
            with sending(url) as seen:
                (record,) = runtime.engine.run_policy(policy, in_window_only=False)
        service = record.service
        if record.outcome is not Outcome.RECOVERED or service is None:
            raise RuntimeError(f"attack did not recover: {record.outcome} {record.reason}")
        if service.recovered_at is None:
            raise RuntimeError(f"the monkey saw no impact of {fault}")
        return Round(record.injected_at or 0.0, service.recovered_at, client_back_at(seen),
                     service.degraded_seconds, seen.degraded_seconds(MAX_LATENCY_S))
    finally:
        replica.remove(force=True)


def report(fault: str, rounds: list[Round]) -> tuple[float, float, float, float]:
    """Prints one fault's rounds; returns the medians and maxima of both differences."""
    print(f"{fault}:")
    for index, done in enumerate(rounds, 1):
        late_ms = bench.ms(done.monkey_back_at - done.client_back_at)
        flag = "" if done.within else "  OUT OF TOLERANCE"
        monkey_s, client_s = (at - done.injected_at for at in (done.monkey_back_at,
                                                               done.client_back_at))
        print(
            f"  round {index:2}: back after monkey {monkey_s:.3f} s, client {client_s:.3f} s "
            f"({late_ms:+.1f} ms); degraded monkey "
            f"{done.monkey_degraded_s:.3f} s, client {done.client_degraded_s:.3f} s "
            f"({done.degraded_diff * 100:.1f} %){flag}"
        )
    back = [bench.ms(done.back_diff_s) for done in rounds]
    degraded = [done.degraded_diff * 100 for done in rounds]
    figures = (statistics.median(back), max(back), statistics.median(degraded), max(degraded))
    print(
        f"  |back at| difference: median {figures[0]:.1f} ms, max {figures[1]:.1f} ms; "
        f"degraded seconds difference: median {figures[2]:.1f} %, max {figures[3]:.1f} %"
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    logs.configure("warning")
    summaries, ok = [], True
    with tempfile.TemporaryDirectory(prefix="bench-fidelity-") as tmp, bench.bench_session() as dc:
        workdir = Path(tmp)
        with Runtime.open(workdir / "journal.db") as runtime:
            for fault in FAULTS:
                done = [attack_round(dc, runtime, workdir, fault) for _ in range(rounds)]
                ok = ok and all(each.within for each in done)
                back, back_max, degraded, degraded_max = report(fault, done)
                summaries.append(
                    f"{fault} back-at diff median {back:.0f} ms max {back_max:.0f} ms, degraded "
                    f"diff median {degraded:.1f} % max {degraded_max:.1f} %"
                )
    verdict = bench.verdict(ok)
    print(
        f"SUMMARY service_fidelity: {'; '.join(summaries)} over {rounds} attacks each, target "
        f"<={bench.ms(BACK_TOLERANCE_S):.0f} ms and <={DEGRADED_TOLERANCE * 100:.0f} %: {verdict}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
