"""The node agent refuses what the monkey would, from what it finds on its node: namespaces it does
not allow (kube-system always), the node's own network unless it was started to allow it, and
faults longer than its maximum; each refusal a 4xx with a one-line reason."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chaosmonkey.agent import faults
from chaosmonkey.agent.faults import FaultRequest, apply_fault
from chaosmonkey.agent.limits import AgentLimits, Refused
from chaosmonkey.agent.sandbox import pod_namespace
from chaosmonkey.agent.server import make_app
from chaosmonkey.errors import PolicyError
from tests.unit.test_agent_sandbox import UID, fake_proc

TOKEN = "t0ken"  # noqa: S105 - a test token
OWN_PID_CGROUP = f"0::/kubepods/besteffort/pod{UID}/0f3a"  # this process, as the pod's sandbox


def request(duration_s: float = 31.0, allow_host_network: bool = False) -> dict[str, Any]:
    fault = {"type": "partition", "duration": "30s", "allowHostNetwork": allow_host_network}
    return {"pod_uid": UID, "tag": "chaosmonkey:a1", "duration_s": duration_s, "fault": fault}


@pytest.fixture
def node(tmp_path: Path) -> tuple[Path, Path]:
    """A /proc whose pod UID's sandbox is this very process (in the host's namespace, as far as
    the agent can tell), and the kubelet's pod log directories, the pod in namespace `shop`."""
    proc = tmp_path / "proc"
    proc.mkdir()
    fake_proc(proc, {os.getpid(): (OWN_PID_CGROUP, 100)})
    logs = tmp_path / "pods"
    (logs / f"shop_web-7d9f_{UID}").mkdir(parents=True)
    (logs / "kube-system_coredns-1_0f1e2d3c-0000-0000-0000-000000000000").mkdir()
    return proc, logs


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Keepers launched (faked): the pids they were launched into."""
    pids: list[int] = []

    def launch(pid: int, spec: object) -> int:
        pids.append(pid)
        return 4242

    monkeypatch.setattr(faults, "find_keepers", lambda tag: [])
    monkeypatch.setattr(faults, "launch_keeper", launch)
    return pids


def apply(node: tuple[Path, Path], limits: AgentLimits, **body: Any) -> dict[str, Any]:
    proc, logs = node
    return apply_fault(FaultRequest.model_validate(request(**body)), limits, proc, logs)


# -- the namespace ---------------------------------------------------------------------------


def test_the_pods_namespace_comes_from_the_kubelets_log_directories(tmp_path: Path) -> None:
    (tmp_path / f"shop_web-7d9f_{UID}").mkdir()
    (tmp_path / "shop_other_1b2c3d4e-aaaa-bbbb-cccc-1234567890ac").mkdir()
    assert pod_namespace(UID, tmp_path) == "shop"
    assert pod_namespace(UID, tmp_path / "missing") is None
    assert pod_namespace("1b2c3d4e-aaaa-bbbb-cccc-1234567890ac", tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("limits", "namespace", "message"),
    [
        (AgentLimits(), "kube-system", "is in namespace kube-system: never attacked"),
        (AgentLimits(namespaces=frozenset({"kube-system"})), "kube-system", "never attacked"),
        (AgentLimits(own_namespace="cm-agent"), "cm-agent", "the agent's own namespace"),
        (
            AgentLimits(namespaces=frozenset({"shop", "staging"})),
            "payments",
            "not one the agent allows (--namespaces shop, staging)",
        ),
        (AgentLimits(), None, "its namespace cannot be told"),
    ],
)
def test_namespaces_are_refused(limits: AgentLimits, namespace: str | None, message: str) -> None:
    with pytest.raises(Refused, match=re.escape(message)) as refused:
        limits.check_namespace(UID, namespace, "/var/log/pods")
    assert refused.value.reason == "namespace"
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("limits", "namespace"),
    [
        (AgentLimits(own_namespace="cm-agent"), "shop"),
        (AgentLimits(namespaces=frozenset({"shop"})), "shop"),
        (AgentLimits(own_namespace="cm-agent", namespaces=frozenset({"cm-agent"})), "cm-agent"),
    ],
)
def test_namespaces_are_accepted(limits: AgentLimits, namespace: str) -> None:
    limits.check_namespace(UID, namespace, "/var/log/pods")


def test_options_make_the_limits() -> None:
    limits = AgentLimits.from_options("cm-agent", ["shop, staging", "web"], False, "90m")
    assert limits == AgentLimits("cm-agent", frozenset({"shop", "staging", "web"}), False, 5400.0)
    assert AgentLimits.from_options("", [], True, "1h") == AgentLimits(None, frozenset(), True)
    with pytest.raises(PolicyError, match=r"^--max-duration: expected a duration such as"):
        AgentLimits.from_options(None, [], False, "soon")


# -- applying a fault ------------------------------------------------------------------------


def test_a_fault_over_the_maximum_duration_is_refused(
    node: tuple[Path, Path], launched: list[int]
) -> None:
    """The keeper's one-second grace over the fault's duration is let through, no more."""
    limits = AgentLimits(allow_host_network=True, max_duration_s=3600.0)
    with pytest.raises(Refused, match=r"^duration_s 3602: over the agent's maximum of 1h") as no:
        apply(node, limits, duration_s=3602.0, allow_host_network=True)
    assert no.value.reason == "duration"
    apply(node, limits, duration_s=3601.0, allow_host_network=True)
    assert launched == [os.getpid()]


def test_a_pod_in_a_refused_namespace_gets_nothing(
    node: tuple[Path, Path], launched: list[int]
) -> None:
    limits = AgentLimits(namespaces=frozenset({"staging"}), allow_host_network=True)
    with pytest.raises(Refused, match="is in namespace shop: not one the agent allows"):
        apply(node, limits, allow_host_network=True)
    assert launched == []


@pytest.mark.parametrize(
    ("agent_allows", "fault_asks"), [(False, False), (False, True), (True, False)]
)
def test_the_nodes_network_needs_the_agent_and_the_fault_to_allow_it(
    node: tuple[Path, Path], launched: list[int], agent_allows: bool, fault_asks: bool
) -> None:
    """The caller's allowHostNetwork alone is not enough: the agent must be started with it."""
    with pytest.raises(Refused, match="uses its node's network: refused unless") as refused:
        apply(node, AgentLimits(allow_host_network=agent_allows), allow_host_network=fault_asks)
    assert refused.value.reason == "host_network"
    assert launched == []
    apply(node, AgentLimits(allow_host_network=True), allow_host_network=True)
    assert launched == [os.getpid()]


# -- over HTTP -------------------------------------------------------------------------------


def post(node: tuple[Path, Path], limits: AgentLimits, body: dict[str, Any]) -> tuple[int, Any]:
    """POST /faults to an agent app with `limits`, served on 127.0.0.1."""

    async def call() -> tuple[int, Any]:
        app = make_app(TOKEN, limits, node[1])
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            response = await client.post("/faults", json=body, headers=headers)
            return response.status, await response.json()

    return asyncio.run(call())


@pytest.mark.parametrize(
    ("limits", "body", "status", "reason"),
    [
        (AgentLimits(max_duration_s=60.0), request(duration_s=600.0), 403, "duration"),
        (AgentLimits(namespaces=frozenset({"staging"})), request(), 403, "namespace"),
        (AgentLimits(), request(allow_host_network=True), 409, "host_network"),
    ],
)
def test_refusals_are_4xx_with_a_one_line_reason(
    node: tuple[Path, Path],
    launched: list[int],
    monkeypatch: pytest.MonkeyPatch,
    limits: AgentLimits,
    body: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    proc = node[0]
    real = faults.sandbox_pid
    monkeypatch.setattr(faults, "sandbox_pid", lambda uid, _=proc: real(uid, proc))
    answered, answer = post(node, limits, body)
    assert (answered, answer["reason"]) == (status, reason)
    assert "\n" not in answer["error"]
    assert launched == []
