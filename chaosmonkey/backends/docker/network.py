"""Network faults on Docker containers: destinations resolved through the engine, the fault
applied and held by a keeper in the container's network namespace, reverted by its tag."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from docker import APIClient
from docker.errors import NotFound

from chaosmonkey.backends.docker.helpers import launch_helper, remove_in_helper, stop_helpers
from chaosmonkey.errors import PolicyError, TargetGone
from chaosmonkey.faults.network import NetworkPlan
from chaosmonkey.model import COMPOSE_SERVICE_LABEL, RevertResult, Target
from chaosmonkey.netfaults.apply import remove_tagged
from chaosmonkey.netfaults.destinations import Destination, check_destination
from chaosmonkey.netfaults.keeper import KeeperSpec, LocalExecutor
from chaosmonkey.netfaults.launch import launch_keeper, stop_keepers
from chaosmonkey.netfaults.netns import HostNamespaceRefused, NetnsExecutor

_MAX_JOINS = 16  # `container:` modes followed from a target to the namespace's owner


def place(api: APIClient, target: Target, allow_host_network: bool) -> None:
    """Docker records no placement: the keeper runs where the monkey does. A container on the
    host's network, its own or joined (`container:<id or name>`, at any depth), is refused unless
    allowed."""
    info = _inspect(api, target)
    if allow_host_network:
        return
    owner = _host_network_owner(api, target.name, info)
    if owner is None:
        return
    through = "" if owner == target.name else f" (it joins the network of container {owner})"
    raise PolicyError(
        "spec.fault.allowHostNetwork",
        f"container {target.name} uses the host's network{through}: a network fault would "
        "degrade the host itself; set allowHostNetwork: true to allow it",
    )


def _host_network_owner(api: APIClient, name: str, info: Mapping[str, Any]) -> str | None:
    """The container, `name` itself or one whose network it joins, that is on the host's network;
    None when the namespace is a container's own. A joined container that cannot be inspected
    (gone, or a chain longer than any the engine makes) is refused: its namespace is unknown."""
    for _ in range(_MAX_JOINS):
        mode = str((info.get("HostConfig") or {}).get("NetworkMode") or "")
        if mode == "host":
            return name
        if not mode.startswith("container:"):
            return None
        joined = mode.removeprefix("container:")
        try:
            info = api.inspect_container(joined)
        except NotFound:
            raise PolicyError(
                "spec.fault.allowHostNetwork",
                f"container {name} joins the network of container {joined}, which is gone: "
                "whether that is the host's network cannot be told; set allowHostNetwork: "
                "true to allow it",
            ) from None
        name = str(info.get("Name") or joined).lstrip("/")
    raise PolicyError(
        "spec.fault.allowHostNetwork",
        f"container {name}: more than {_MAX_JOINS} containers joined in a chain of "
        "`network_mode: container:`; set allowHostNetwork: true to allow it",
    )


def hold(api: APIClient, target: Target, plan: NetworkPlan, own_id: str | None) -> float:
    """Starts the fault's keeper: from the host into the target's namespace, or, when the monkey
    runs in a container (`own_id`), in a helper container sharing that namespace."""
    pid = _pid(_inspect(api, target), target)
    keeper, hold_s = plan.keeper, plan.keeper_hold_s
    if own_id is not None:
        # Creating the helper may take seconds: its keeper holds from when it has applied the
        # fault, and the fault is in place from its ready line on.
        spec = KeeperSpec(keeper.tag, 0.0, keeper.changes, keeper.proxy, hold_s=hold_s)
        launch_helper(api, own_id, target, spec)
        return time.time()
    started = time.time()
    launch_keeper(pid, KeeperSpec(keeper.tag, started + hold_s, keeper.changes, keeper.proxy))
    return started


def release(api: APIClient, target: Target, tag: str, own_id: str | None) -> RevertResult:
    """Stops the keeper (which removes its rules), then removes whatever the tag still owns."""
    if own_id is not None:
        return _revert_from_container(api, target, own_id, tag)
    held_in = stop_keepers(tag)
    try:
        pid = _pid(_inspect(api, target), target)
    except TargetGone:
        return RevertResult.TARGET_GONE
    executor = NetnsExecutor(pid)
    try:
        report = remove_tagged(executor, tag)
    except HostNamespaceRefused:  # allowHostNetwork: the fault was in our own namespace
        report = remove_tagged(LocalExecutor(), tag)
    if report.namespace_gone:
        return RevertResult.TARGET_GONE
    # a keeper in another namespace held the fault in the target's previous life (a restart)
    removed = report.rules_removed or report.qdiscs_removed or executor.netns in held_in
    return RevertResult.REVERTED if removed else RevertResult.ALREADY_CLEAN


def _revert_from_container(api: APIClient, target: Target, own_id: str, tag: str) -> RevertResult:
    stopped = stop_helpers(api, tag)
    try:
        _pid(_inspect(api, target), target)
    except TargetGone:
        return RevertResult.TARGET_GONE
    if stopped.cleaned:  # each keeper removed its changes and exited 0: no second helper needed
        return RevertResult.REVERTED if stopped.running else RevertResult.ALREADY_CLEAN
    report = remove_in_helper(api, own_id, target, tag)
    removed = report["rules_removed"] or report["qdiscs_removed"]
    return RevertResult.REVERTED if stopped.running or removed else RevertResult.ALREADY_CLEAN


def resolve(api: APIClient, destinations: list[str]) -> list[Destination]:
    """CIDRs as they are; container and compose service names as their containers' addresses."""
    resolved: list[Destination] = []
    for text in destinations:
        spec = check_destination(text)
        if spec.cidr is not None:
            resolved.append(Destination(spec.cidr, spec.port))
            continue
        assert spec.name is not None
        addresses = _addresses(api, spec.name)
        if not addresses:
            raise PolicyError(
                "spec.fault.destinations",
                f"unknown destination {text!r}: no running container or compose service "
                f"named {spec.name!r}",
            )
        resolved += [Destination(f"{address}/32", spec.port) for address in addresses]
    return resolved


def _addresses(api: APIClient, name: str) -> list[str]:
    by_name = api.containers(filters={"name": f"^/?{name}$"})
    by_service = api.containers(filters={"label": f"{COMPOSE_SERVICE_LABEL}={name}"})
    found = []
    for summary in [*by_name, *by_service]:
        networks = (summary.get("NetworkSettings") or {}).get("Networks") or {}
        found += [n["IPAddress"] for n in networks.values() if n.get("IPAddress")]
    return sorted(set(found))


def _inspect(api: APIClient, target: Target) -> Mapping[str, Any]:
    try:
        result: Mapping[str, Any] = api.inspect_container(target.id)
    except NotFound as error:
        raise TargetGone(f"container {target.name} is gone") from error
    return result


def _pid(info: Mapping[str, Any], target: Target) -> int:
    pid = int(info["State"].get("Pid") or 0)
    if pid <= 0:
        raise TargetGone(f"container {target.name} is not running: it has no network namespace")
    return pid
