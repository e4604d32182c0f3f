"""What chaosmonkey adds to one container kill, against the same kill through the raw Docker SDK.

Run: .venv/bin/python bench/kill_overhead.py [--rounds 15]. Each round kills three fresh running
containers (all started before any timing): one with a kill (method api) injected through
`DockerBackend`, one with the SDK's `container.kill()` (same engine call, POST
/containers/{id}/kill), in an order that alternates each round, then one with `method: crash`
(inspect + os.kill of the main process from the host). Kills are SETTLE_S apart so that one
container's teardown does not slow the next kill. Exits 1 when the median per-round ratio
engine/SDK exceeds 1.15.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import _support as bench
import docker
from docker.models.containers import Container

from chaosmonkey.backends.docker import DockerBackend
from chaosmonkey.faults.kill import KillFault
from chaosmonkey.model import Target

TARGET_RATIO = 1.15
PATHS = ("engine", "sdk", "crash")
SETTLE_S = 0.4


def start_containers(client: docker.DockerClient, count: int) -> list[Container]:
    """`count` running targets (no published port, no restart policy), started ahead of timing."""
    app = bench.unique_app()
    containers = [bench.run_target(client, app, publish=False) for _ in range(count)]
    for container in containers:
        bench.wait_running(container)
    return containers


def timed_ms(call: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - start) / 1e6


def kill_calls(
    backend: DockerBackend, targets: dict[str, Target], container: dict[str, Container]
) -> dict[str, Callable[[], object]]:
    """The three ways to kill one round's containers, keyed by path."""
    api = KillFault.model_validate({"type": "kill", "method": "api"})
    crash = KillFault.model_validate({"type": "kill", "method": "crash"})
    return {
        "engine": lambda: api.injection("bench", targets["engine"], backend).apply(backend),
        "sdk": lambda: container["sdk"].kill(),
        "crash": lambda: crash.injection("bench", targets["crash"], backend).apply(backend),
    }


class _NoEngine:
    """Stands in for the SDK's low-level client: every call returns at once."""

    def kill(self, container: str, signal: str | None = None) -> None:
        pass


def own_cost_us(target: Target, calls: int = 2000) -> float:
    """Median µs of chaosmonkey's own code in plan + apply (kill method api), no engine call."""
    backend = DockerBackend(docker.DockerClient(base_url=bench.DOCKER_URL))
    backend._api = _NoEngine()  # type: ignore[assignment]
    fault = KillFault.model_validate({"type": "kill", "method": "api"})
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fault.injection("bench", target, backend).apply(backend)
        samples.append((time.perf_counter_ns() - start) / 1e3)
    backend._client.close()
    return statistics.median(samples)


def run(client: docker.DockerClient, rounds: int) -> dict[str, list[float]]:
    """Kill timings (ms) per path; round 0 is a warm-up and is not returned."""
    containers = start_containers(client, len(PATHS) * (rounds + 1))
    time.sleep(1.0)  # let the engine settle after the starts
    backend = DockerBackend.connect()
    try:
        by_id = {target.id: target for target in backend.list_targets()}
        timings: dict[str, list[float]] = {path: [] for path in PATHS}
        for index in range(rounds + 1):
            mine = dict(zip(PATHS, containers[index * 3 : index * 3 + 3], strict=True))
            calls = kill_calls(backend, {p: by_id[str(c.id)] for p, c in mine.items()}, mine)
            order = ("engine", "sdk") if index % 2 else ("sdk", "engine")
            for path in (*order, "crash"):
                time.sleep(SETTLE_S)
                elapsed = timed_ms(calls[path])
                if index > 0:
                    timings[path].append(elapsed)
        return timings
    finally:
        backend.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    with bench.bench_session() as client:
        timings = run(client, rounds)
    medians = {path: statistics.median(values) for path, values in timings.items()}
    for path, values in timings.items():
        print(
            f"{path:7s} median {medians[path]:7.2f} ms  min {min(values):7.2f}  "
            f"max {max(values):7.2f}  (n={len(values)})"
        )
    target = Target(backend="docker", id="0" * 64, name="web-1", group="web")
    print(
        f"chaosmonkey's own code in plan + apply (engine call stubbed): "
        f"{own_cost_us(target):.1f} µs per kill"
    )
    ratios = [e / s for e, s in zip(timings["engine"], timings["sdk"], strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"per-round ratio engine/sdk: median {ratio:.3f}  min {min(ratios):.3f}  "
        f"max {max(ratios):.3f}; ratio of medians {medians['engine'] / medians['sdk']:.3f}"
    )
    print("crash returns once the signal is sent; api kills return once the engine saw the exit")
    result = bench.verdict(ratio <= TARGET_RATIO)
    print(
        f"SUMMARY kill_overhead: engine {medians['engine']:.1f} ms vs sdk {medians['sdk']:.1f} ms, "
        f"crash {medians['crash']:.1f} ms, median ratio {ratio:.3f}, "
        f"target <={TARGET_RATIO}: {result}"
    )
    return 0 if result == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
