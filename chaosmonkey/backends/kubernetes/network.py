"""Network faults on pods, through the node agent on the pod's node (`chaosmonkey agent`).

The plan records the exact rules (as on Docker), the pod's node and the address of that node's
agent (`Placement`), so that revert needs nothing but the journal. Agents are the
pods labelled `app.kubernetes.io/component=chaosmonkey-agent` in CHAOSMONKEY_AGENT_NAMESPACE (by
default the monkey's own namespace); the monkey and the agents share a token
(CHAOSMONKEY_AGENT_TOKEN, or the file that CHAOSMONKEY_AGENT_TOKEN_FILE names).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from chaosmonkey.agent import AGENT_PORT
from chaosmonkey.agent.client import AgentClient, AgentNotConnected, AgentUnreachable
from chaosmonkey.backends.kubernetes.pods import Pod, running
from chaosmonkey.errors import BackendError, PolicyError, RevertFailedError
from chaosmonkey.faults.network import NetworkPlan, Placement
from chaosmonkey.model import RevertResult, Target
from chaosmonkey.netfaults.destinations import Destination, check_destination

AGENT_SELECTOR = "app.kubernetes.io/component=chaosmonkey-agent"
AGENT_PORT_NAME = "agent"
TOKEN_ENV, TOKEN_FILE_ENV = "CHAOSMONKEY_AGENT_TOKEN", "CHAOSMONKEY_AGENT_TOKEN_FILE"
NAMESPACE_ENV = "CHAOSMONKEY_AGENT_NAMESPACE"  # default: the monkey's own namespace
# Tags whose apply, in this process, never reached an agent: their revert has nothing to undo.
_UNDELIVERED: set[str] = set()


def agent_token(env: Mapping[str, str]) -> str | None:
    """The token shared with the node agents, from the environment or its file."""
    if token := env.get(TOKEN_ENV, "").strip():
        return token
    if path := env.get(TOKEN_FILE_ENV):
        try:
            return Path(path).read_text().strip() or None
        except FileNotFoundError:  # an optional Secret, not created: no network faults
            return None
        except OSError as error:
            raise BackendError(f"{TOKEN_FILE_ENV}: cannot read {path}: {error.strerror}") from None
    return None


def place(pod: Pod, target: Target, agents: list[Pod], allow_host_network: bool) -> Placement:
    """The pod's node and that node's agent, written down before anything is applied."""
    if pod.get("spec", {}).get("hostNetwork") and not allow_host_network:
        raise PolicyError(
            "spec.fault.allowHostNetwork",
            f"pod {_name(target)} uses its node's network: a network fault would degrade the "
            "node itself; set allowHostNetwork: true to allow it",
        )
    node = str(pod.get("spec", {}).get("nodeName") or "")
    if not node:
        raise BackendError(f"pod {_name(target)} is not on a node yet: no network to degrade")
    return Placement(node=node, agent=agent_address(agents, node))


def hold(target: Target, plan: NetworkPlan, connect: Callable[[str], AgentClient]) -> float:
    """Asks the recorded agent to apply the fault. An agent that could not even be connected to
    applied nothing: the revert that follows in this process has nothing to undo."""
    placement = _placement(plan.placement, plan.tag)
    request = {
        "pod_uid": target.id,
        "tag": plan.tag,
        "duration_s": plan.keeper_hold_s,
        "fault": plan.fault.model_dump(mode="json", by_alias=True),
        "peers": [peer.model_dump() for peer in plan.peers],
    }
    started = time.time()
    try:
        held = connect(placement.agent).apply(request)
    except AgentNotConnected:
        _UNDELIVERED.add(plan.tag)
        raise
    if held.get("changes") != len(plan.keeper.changes):
        raise BackendError(  # a different version of the rules: the journal must say the truth
            f"the node agent at {placement.agent} applied {held.get('changes')} "
            "change(s), not the ones recorded: is it the monkey's version?"
        )
    return started


def release(
    target: Target,
    tag: str,
    placement: Placement | None,
    connect: Callable[[str], AgentClient],
    agent_now: Callable[[str], str | None],
    pod_gone: Callable[[], bool],
) -> RevertResult:
    """Asks the agent to revert by tag: the recorded one, else the agent now on the pod's node
    (a replaced agent pod). With no agent answering, a pod that is gone took the fault with it;
    otherwise the revert failed (the keeper still ends the fault at its deadline)."""
    recorded = _placement(placement, tag)
    if tag in _UNDELIVERED:
        _UNDELIVERED.discard(tag)
        return RevertResult.ALREADY_CLEAN
    try:
        return connect(recorded.agent).revert(tag, target.id)
    except AgentUnreachable as error:
        failure = error
    current = agent_now(recorded.node)
    if current is not None and current != recorded.agent:
        try:
            return connect(current).revert(tag, target.id)
        except AgentUnreachable as error:
            failure = error
    if pod_gone():
        return RevertResult.TARGET_GONE
    raise RevertFailedError(
        f"could not revert {tag} on pod {_name(target)}: {failure}; "
        "its keeper ends the fault at its deadline"
    ) from failure


def _placement(placement: Placement | None, tag: str) -> Placement:
    if placement is None:
        raise BackendError(f"{tag}: no node agent recorded for this network fault")
    return placement


def resolve(destinations: list[str]) -> list[Destination]:
    """Addresses and CIDRs (with ports) as they are; names are not resolved on kubernetes."""
    resolved = []
    for text in destinations:
        spec = check_destination(text)
        if spec.cidr is None:
            raise PolicyError(
                "spec.fault.destinations",
                f"{text!r}: on kubernetes, expected an address or CIDR with an optional port "
                "(10.96.0.10:53, 10.1.0.0/16); names are not resolved",
            )
        resolved.append(Destination(spec.cidr, spec.port))
    return resolved


def agent_address(agents: list[Pod], node: str) -> str:
    """`ip:port` of the running agent on `node`; BackendError when there is none."""
    for pod in agents:
        ip = pod.get("status", {}).get("podIP")
        if pod.get("spec", {}).get("nodeName") == node and running(pod) and ip:
            return f"{ip}:{_port(pod)}"
    raise BackendError(
        f"no node agent runs on node {node}: expected a running pod labelled {AGENT_SELECTOR} "
        "there, in the agents' namespace (deploy/kubernetes/agent-daemonset.yaml)"
    )


def _port(pod: Pod) -> int:
    for container in pod.get("spec", {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") == AGENT_PORT_NAME:
                return int(port["containerPort"])
    return AGENT_PORT


def _name(target: Target) -> str:
    return f"{target.namespace}/{target.name}"
