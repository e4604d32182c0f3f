"""How long choosing targets takes among 10,000 containers, from the engine's listing to the draw.

Run: .venv/bin/python bench/select_targets.py [--runs 30]. No engine is needed: 10,000 synthetic
container summaries shaped like `client.api.containers(all=True)` (compose labels for ~1,000
services, some exited, some unhealthy, some protected) go through what `Engine.select` does with a
Docker backend: `target_from_summary` for each (and the backend's own-container filter), then
`selection.eligible` and `selection.choose` with a policy's targets and limits. Baseline: one
pass over the same list. Exits 1 when the median exceeds 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from chaosmonkey.backends.docker import target_from_summary
from chaosmonkey.policy.models import Policy
from chaosmonkey.selection import Selection, choose, eligible

TARGET_MS = 50.0
CONTAINERS = 10_000
SERVICES = 1_000
TIERS = ("web", "worker", "db", "cache")
POLICY = {
    "apiVersion": "chaosmonkey/v1",
    "kind": "Policy",
    "metadata": {"name": "bench-select"},
    "spec": {
        "dryRun": False,
        "fault": {"type": "kill"},
        "targets": {
            "labels": {"tier": "web", "com.docker.compose.project": "shop"},
            "names": ["^shop-svc-"],
            "exclude": {"labels": {"canary": "true"}, "names": ["-1$"]},
        },
        "limits": {"maxTargets": 5, "maxUnavailable": "34%"},
    },
}


def summary(index: int, rng: random.Random) -> dict[str, Any]:
    """One entry of GET /containers/json?all=1 for replica `index` of a compose service."""
    service, replica = index % SERVICES, index // SERVICES + 1
    container_id = hashlib.sha256(str(index).encode()).hexdigest()
    labels = {
        "com.docker.compose.project": "shop",
        "com.docker.compose.service": f"svc-{service:04d}",
        "com.docker.compose.container-number": str(replica),
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.config-hash": container_id[:32],
        "tier": TIERS[service % len(TIERS)],
    }
    if rng.random() < 0.02:
        labels["chaosmonkey.io/protected"] = "true"
    if rng.random() < 0.05:
        labels["canary"] = "true"
    roll = rng.random()
    state, status = "running", "Up 3 hours (healthy)"
    if roll < 0.05:
        state, status = "exited", "Exited (137) 5 minutes ago"
    elif roll < 0.08:
        status = "Up 3 hours (unhealthy)"
    elif roll < 0.30:
        status = "Up 3 hours"  # no health check
    return {
        "Id": container_id,
        "Names": [f"/shop-svc-{service:04d}-{replica}"],
        "Image": "shop/app:1.4.2",
        "ImageID": "sha256:" + "ab" * 32,
        "Command": "/entrypoint serve",
        "Created": 1_795_000_000 + index,
        "Ports": [{"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": 20000 + index}],
        "Labels": labels,
        "State": state,
        "Status": status,
        "HostConfig": {"NetworkMode": "shop_default"},
        "NetworkSettings": {"Networks": {"shop_default": {"IPAddress": "172.18.0.2"}}},
        "Mounts": [],
    }


def select(summaries: list[dict[str, Any]], policy: Policy, rng: random.Random) -> Selection:
    """What `Engine.select` does over a Docker backend's listing (`DockerBackend._list`)."""
    own_id = None  # on a host, the backend's own container id is None
    targets = [target_from_summary(item) for item in summaries]
    everyone = [target for target in targets if target.id != own_id]
    candidates = eligible(everyone, policy.spec.targets)
    return choose(candidates, everyone, policy.spec.limits, rng)


def baseline(summaries: list[dict[str, Any]]) -> int:
    """One pass over the list, reading one field of each summary."""
    running = 0
    for item in summaries:
        running += item["State"] == "running"
    return running


def timings_ms(call: Callable[[], object], runs: int) -> list[float]:
    for _ in range(3):  # warm-up
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    rng = random.Random(7)
    summaries = [summary(index, rng) for index in range(CONTAINERS)]
    policy = Policy.model_validate(POLICY)
    result = select(summaries, policy, rng)
    print(
        f"{CONTAINERS} containers, {SERVICES} services: {len(result.eligible)} eligible, "
        f"{len(result.chosen)} chosen, {len(result.refused)} refused on the way"
    )
    base = statistics.median(timings_ms(lambda: baseline(summaries), runs))
    targets = [target_from_summary(item) for item in summaries]
    candidates = eligible(targets, policy.spec.targets)
    parts = {
        "target_from_summary x10,000": lambda: [target_from_summary(s) for s in summaries],
        "selection.eligible": lambda: eligible(targets, policy.spec.targets),
        "selection.choose": lambda: choose(candidates, targets, policy.spec.limits, rng),
    }
    for name, call in parts.items():
        print(f"  {name:30s} median {statistics.median(timings_ms(call, runs)):7.2f} ms")
    full = timings_ms(lambda: select(summaries, policy, rng), runs)
    median = statistics.median(full)
    print(f"whole selection: median {median:.2f} ms  max {max(full):.2f} ms  (n={runs})")
    print(f"baseline (one pass over the list): median {base:.3f} ms")
    verdict = "PASS" if median <= TARGET_MS else "FAIL"
    print(
        f"SUMMARY select_targets: {CONTAINERS} containers median {median:.1f} ms, "
        f"baseline {base:.2f} ms, ratio {median / base:.0f}x, "
        f"target <={TARGET_MS:.0f} ms: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
