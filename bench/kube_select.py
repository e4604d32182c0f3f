"""How long choosing pods takes among 1,000 and 10,000 pods in 100 namespaces, through the API.

Run: .venv/bin/python bench/kube_select.py [--runs 7]. The Kubernetes API simulator
(tests/kubesim) runs in a child process, as an API server would run elsewhere, and is filled
through its Python API: per namespace, Deployments of 10 replicas (tiers web and worker), one
StatefulSet (tier db) and bare pods, a tenth of them each; a few pods labelled protected. Timed:
`Engine.select` for a policy over all 100 namespaces with a server-side label selector, i.e. the
real `kubernetes` client listing pods and ReplicaSets page by page in every namespace, the pods
turned into targets with their groups, `selection.eligible` and `selection.choose`. Median of
`--runs` after one warm-up, at 1,000 pods then 10,000; the growth ratio shows how the cost scales.
Exits 1 when the median at 10,000 pods exceeds 1 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import _support as bench

sys.path.insert(0, str(bench.ROOT))  # tests.kubesim, the simulator

from chaosmonkey.backends.kubernetes import KubernetesBackend
from chaosmonkey.engine import Engine
from chaosmonkey.journal import Journal
from chaosmonkey.policy.models import Policy
from tests.kubesim import KubeSim

TARGET_S = 1.0
NAMESPACES = 100
SIZES = (1_000, 10_000)
REPLICAS = 10


def policy() -> Policy:
    return Policy.model_validate(
        {
            "apiVersion": "chaosmonkey/v1",
            "kind": "Policy",
            "metadata": {"name": "bench-kube-select"},
            "spec": {
                "backend": "kubernetes",
                "dryRun": False,
                "fault": {"type": "kill"},
                "targets": {
                    "namespaces": [namespace(n) for n in range(NAMESPACES)],
                    "selector": "tier in (web,worker,db)",
                    "exclude": {"names": ["-0$"]},
                },
                "limits": {"maxTargets": 5, "maxUnavailable": "34%"},
            },
        }
    )


def namespace(index: int) -> str:
    return f"bench-{index:03d}"


def fill(sim: KubeSim, pods: int) -> None:
    """`pods` pods over the namespaces: Deployments, a StatefulSet and bare pods in each."""
    per = pods // NAMESPACES
    tenth = max(1, per // 10)
    for index in range(NAMESPACES):
        name = namespace(index)
        sim.create_namespace(name)
        sim.create_statefulset(name, "db", replicas=tenth, labels={"app": "db", "tier": "db"})
        for bare in range(tenth):
            labels = {"app": f"job-{bare}", "tier": "worker"}
            if bare == 0:
                labels["chaosmonkey.io/protected"] = "true"
            sim.create_pod(name, f"job-{bare}", labels=labels)
        left, deployment = per - 2 * tenth, 0
        while left > 0:
            replicas = min(REPLICAS, left)
            tier = "web" if deployment % 2 == 0 else "worker"
            labels = {"app": f"app-{deployment}", "tier": tier}
            sim.create_deployment(name, f"app-{deployment}", replicas=replicas, labels=labels)
            left, deployment = left - replicas, deployment + 1


def serve(pods: int, kubeconfig: str, ready: Connection, stop: Connection) -> None:
    """The child process: a simulator holding `pods` pods until told to stop."""
    with KubeSim() as sim:
        started = time.perf_counter()
        fill(sim, pods)
        sim.write_kubeconfig(kubeconfig)
        ready.send(time.perf_counter() - started)
        stop.recv()


def measure(pods: int, runs: int, workdir: Path) -> tuple[list[float], list[float], int]:
    """Times of `Engine.select` and of the listing alone; how many pods were eligible."""
    context = multiprocessing.get_context("spawn")
    ready_in, ready_out = context.Pipe(duplex=False)
    stop_in, stop_out = context.Pipe(duplex=False)
    kubeconfig = workdir / f"kubeconfig-{pods}"
    child = context.Process(target=serve, args=(pods, str(kubeconfig), ready_out, stop_in))
    child.start()
    try:
        print(f"{pods} pods: simulator filled in {ready_in.recv():.1f} s")
        backend = KubernetesBackend.connect({"KUBECONFIG": str(kubeconfig)})
        journal = Journal(workdir / f"journal-{pods}.db")
        engine = Engine(backend_for=lambda name: backend, journal=journal)
        chosen = policy()
        selection = engine.select(chosen)  # warm-up: connections, imports
        whole, listing = [], []
        for _ in range(runs):
            started = time.perf_counter()
            engine.select(chosen)
            whole.append(time.perf_counter() - started)
            started = time.perf_counter()
            everyone = backend.list_targets(chosen.spec.targets)
            listing.append(time.perf_counter() - started)
        assert len(everyone) == pods, f"listed {len(everyone)} of {pods} pods"
        backend.close()
        journal.close()
        return whole, listing, len(selection.eligible)
    finally:
        stop_out.send(True)
        child.join(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    medians: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-kube-") as workdir:
        for pods in SIZES:
            whole, listing, eligible = measure(pods, runs, Path(workdir))
            medians[pods] = statistics.median(whole)
            print(
                f"  Engine.select: median {bench.ms(medians[pods]):7.1f} ms  "
                f"max {bench.ms(max(whole)):7.1f} ms  (n={runs}, {eligible} eligible)\n"
                f"  of which list_targets: median {bench.ms(statistics.median(listing)):7.1f} ms"
            )
    small, large = SIZES
    growth = medians[large] / medians[small]
    verdict = bench.verdict(medians[large] <= TARGET_S)
    print(
        f"SUMMARY kube_select: {small} pods {bench.ms(medians[small]):.0f} ms, "
        f"{large} pods {bench.ms(medians[large]):.0f} ms in {NAMESPACES} namespaces, "
        f"growth x{growth:.1f} for x{large // small} pods, target <={TARGET_S:g} s: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
