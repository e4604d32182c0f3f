"""`chaosmonkey attack` as a whole process against `docker kill NAME` as a whole process.

Run: .venv/bin/python bench/attack_process.py [--rounds 7]. Each round kills two fresh running
containers (no restart policy, started before any timing), in an order that alternates: one with
`.venv/bin/chaosmonkey attack --policy P --output json --db DB` (kill method api, recovery timeout
0s: the attack ends once the kill's impact is seen, outcome not_recovered, exit 6), one with
`docker kill NAME`. A warm-up round of each is not counted. The ratio of medians has a goal of
<= 3, reported only (exit 0). Then where the attack's time goes: its own timestamps, the import
time of `chaosmonkey.cli` (`-X importtime`) and the time of `chaosmonkey --version`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _support as bench
import docker
from docker.models.containers import Container

GOAL_RATIO = 3.0
EXIT_NOT_RECOVERED = 6
SETTLE_S = 0.4
CHAOSMONKEY = bench.venv_bin("chaosmonkey")
PYTHON = bench.venv_bin("python")


def timed(command: list[str], expect: int) -> tuple[float, str]:
    """Wall ms of one process, and its stdout; raises when it exits other than `expect`."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != expect:
        raise RuntimeError(f"{command[:2]} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed, done.stdout


def attack(policy: Path, db: Path) -> tuple[float, dict[str, float]]:
    """One `chaosmonkey attack`: wall ms, and its phases (ms) from the record's timestamps."""
    spawned = time.time()
    command = [CHAOSMONKEY, "attack", "--policy", str(policy), "--output", "json", "--db", str(db)]
    elapsed, stdout = timed(command, EXIT_NOT_RECOVERED)
    exited = time.time()
    (record,) = json.loads(stdout)
    if record["status"] != "not_recovered":
        raise RuntimeError(f"unexpected outcome: {record}")
    phases = {
        "start, imports, policy, connect, select": record["created_at"] - spawned,
        "journal, watch open, kill call": record["injected_at"] - record["created_at"],
        "kill call (waits for the exit), impact, end": record["ended_at"] - record["injected_at"],
        "output and interpreter exit": exited - record["ended_at"],
    }
    return elapsed, {name: bench.ms(seconds) for name, seconds in phases.items()}


def prepare(client: docker.DockerClient, rounds: int, workdir: Path) -> list[tuple[Path, str]]:
    """Per round (warm-up first): a policy selecting its own fresh container, and the name of a
    fresh container for `docker kill`; all running before this returns."""
    pairs: list[tuple[Path, str]] = []
    started: list[Container] = []
    for _ in range(rounds + 1):
        app = bench.unique_app()
        started.append(bench.run_target(client, app, publish=False))
        sdk = bench.run_target(client, bench.unique_app(), publish=False)
        started.append(sdk)
        fault = {"type": "kill", "method": "api"}
        policy = bench.write_policy(workdir, app, fault, recovery={"timeout": "0s"})
        pairs.append((policy, str(sdk.name)))
    for container in started:
        bench.wait_running(container)
    time.sleep(1.0)  # let the engine settle after the starts
    return pairs


Timings = list[tuple[str, float]]


def import_breakdown(modules: str) -> tuple[float, Timings, Timings]:
    """`-X importtime` of `import MODULES`: total ms (sum of self times), the heaviest top-level
    packages (cumulative ms) and the heaviest single modules (self ms)."""
    command = [PYTHON, "-X", "importtime", "-c", f"import {modules}"]
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    packages, modules_self = [], []
    for line in lines.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        modules_self.append((name.strip(), int(own) / 1000))
        if "." not in name and not name.strip().startswith(("site", "encodings", "__editable")):
            packages.append((name.strip(), int(cumulative) / 1000))
    total = sum(own for _, own in modules_self)
    top = sorted(packages, key=lambda item: -item[1])[:7]
    return total, top, sorted(modules_self, key=lambda item: -item[1])[:4]


def process_ms(command: list[str], runs: int = 5) -> float:
    return statistics.median(timed(command, 0)[0] for _ in range(runs))


def measure(
    client: docker.DockerClient, rounds: int, workdir: Path
) -> tuple[dict[str, list[float]], list[dict[str, float]]]:
    """Wall ms of each command per counted round, and the attacks' phases."""
    times: dict[str, list[float]] = {"chaosmonkey attack": [], "docker kill": []}
    phases: list[dict[str, float]] = []
    db = workdir / "journal.db"
    for index, (policy, name) in enumerate(prepare(client, rounds, workdir)):
        results: dict[str, Any] = {}
        for path in ("attack", "kill") if index % 2 else ("kill", "attack"):
            time.sleep(SETTLE_S)
            if path == "attack":
                results["chaosmonkey attack"], split = attack(policy, db)
            else:
                results["docker kill"] = timed(["docker", "kill", name], 0)[0]
        if index > 0:  # round 0 warms the page cache and creates the journal
            phases.append(split)
            for key, value in results.items():
                times[key].append(value)
    return times, phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="bench-attack-") as tmp, bench.bench_session() as dc:
        times, phases = measure(dc, rounds, Path(tmp))
    medians = {key: statistics.median(values) for key, values in times.items()}
    for key, values in times.items():
        low, high = min(values), max(values)
        print(f"{key:18s} median {medians[key]:7.1f} ms  min {low:7.1f}  max {high:7.1f}")
    ratio = medians["chaosmonkey attack"] / medians["docker kill"]
    print("where `chaosmonkey attack` spends its time (medians, from its record's timestamps):")
    for phase in phases[0]:
        print(f"  {phase:42s} {statistics.median(p[phase] for p in phases):7.1f} ms")
    for modules in ("chaosmonkey.cli", "chaosmonkey.cli, chaosmonkey.backends.docker"):
        total, top, single = import_breakdown(modules)
        print(f"import {modules}: {total:.1f} ms (-X importtime, sum of self times)")
        print("  heaviest packages (cumulative): " + ", ".join(f"{n} {c:.0f}" for n, c in top))
        print("  heaviest modules (self): " + ", ".join(f"{n} {c:.0f}" for n, c in single))
    imports = "import chaosmonkey.cli, chaosmonkey.backends.docker"
    normal = process_ms([PYTHON, "-c", imports])
    cut = process_ms([PYTHON, "-c", f"{imports}, os; os._exit(0)"])
    print(
        f"process with those imports: {normal:.1f} ms, of which interpreter teardown "
        f"{normal - cut:.1f} ms (same imports, os._exit: {cut:.1f} ms)"
    )
    version = process_ms([CHAOSMONKEY, "--version"])
    print(
        f"`chaosmonkey --version`: {version:.1f} ms; "
        f"`python -c pass`: {process_ms([PYTHON, '-c', 'pass']):.1f} ms"
    )
    result = bench.verdict(ratio <= GOAL_RATIO)
    print(
        f"SUMMARY attack_process: chaosmonkey attack {medians['chaosmonkey attack']:.0f} ms vs "
        f"docker kill {medians['docker kill']:.0f} ms, ratio {ratio:.2f}, "
        f"target <={GOAL_RATIO:g} (goal, reported only): {result}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
