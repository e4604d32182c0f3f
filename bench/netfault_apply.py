"""How long applying and reverting each network fault on a container takes.

Run: .venv/bin/python bench/netfault_apply.py [--rounds 20]. For each fault type, on one running
target and a peer as destination, times the injection's apply (until the keeper in the target's
namespace says the fault is in place) and its revert (until the keeper is gone and
no rule of the attack is left). Target: p99 <= 500 ms for both, for every type.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import Any

import _support as bench

from chaosmonkey.backends.docker import DockerBackend
from chaosmonkey.faults import parse_fault

TARGET_MS = 500.0
FAULTS: dict[str, dict[str, Any]] = {
    "partition": {"type": "partition", "mode": "reject"},
    "packet_loss": {"type": "packet_loss", "percent": 30},
    "bandwidth": {"type": "bandwidth", "rate": "1mbit"},
    "latency": {"type": "latency", "delay": "100ms"},
    "http_error": {"type": "http_error", "status": 503},
}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def measure(
    backend: DockerBackend, target: Any, peer: str, spec: dict[str, Any], rounds: int
) -> tuple[list[float], list[float]]:
    fault = parse_fault({**spec, "destinations": [peer], "duration": "1h"})
    applied, reverted = [], []
    for _ in range(rounds):
        injection = fault.injection(uuid.uuid4().hex[:16], target, backend)
        started = time.perf_counter()
        injection.apply(backend)
        applied.append(bench.ms(time.perf_counter() - started))
        started = time.perf_counter()
        result = injection.revert(backend)
        reverted.append(bench.ms(time.perf_counter() - started))
        assert result.value == "reverted", result
    return applied, reverted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    worst = 0.0
    with bench.bench_session() as client:
        app = bench.unique_app()
        peer = bench.run_target(client, bench.unique_app())
        bench.run_target(client, app)
        backend = DockerBackend.connect()
        [target] = [t for t in backend.list_targets() if t.labels.get("app") == app]
        for name, spec in FAULTS.items():
            applied, reverted = measure(backend, target, peer.name, spec, rounds)
            worst = max(worst, p99(applied), p99(reverted))
            print(
                f"{name:12} apply p50 {bench.median(applied):6.1f} ms p99 {p99(applied):6.1f} ms;"
                f" revert p50 {bench.median(reverted):6.1f} ms p99 {p99(reverted):6.1f} ms"
            )
        backend.close()
    verdict = bench.verdict(worst <= TARGET_MS)
    print(
        f"SUMMARY netfault_apply: worst p99 {worst:.1f} ms over {len(FAULTS)} faults x {rounds} "
        f"rounds, target <={TARGET_MS:.0f} ms: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
