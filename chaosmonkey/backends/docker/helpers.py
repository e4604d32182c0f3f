"""When the monkey itself runs in a container, it cannot enter a target's network namespace:
each fault's keeper runs instead in a helper container that shares the target's namespace, with
NET_ADMIN, from the monkey's own image. Helpers carry the fault's tag and are protected."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from docker import APIClient
from docker.errors import APIError, NotFound

from chaosmonkey.errors import BackendError
from chaosmonkey.model import PROTECTED_LABEL, Target
from chaosmonkey.netfaults.keeper import MODULE, KeeperSpec
from chaosmonkey.netfaults.launch import READY_TIMEOUT_S, STOP_TIMEOUT_S

KEEPER_LABEL = "chaosmonkey.io/keeper"


def launch_helper(api: APIClient, own_id: str, target: Target, spec: KeeperSpec) -> str:
    """Starts the keeper in a helper container; returns its id once the fault is applied."""
    helper = _run(api, own_id, target, [spec.to_json()], spec.tag)
    message = _first_line(api, helper)
    if not message.get("ready"):
        _remove(api, helper)
        raise BackendError(f"the fault could not be applied: {message.get('error')}")
    return helper


def remove_in_helper(api: APIClient, own_id: str, target: Target, tag: str) -> dict[str, Any]:
    """Runs the keeper's removal of `tag` in the target's namespace; returns its report."""
    helper = _run(api, own_id, target, ["--remove", tag], tag)
    try:
        api.wait(helper, timeout=int(READY_TIMEOUT_S))
        output = api.logs(helper, stdout=True, stderr=False).decode().strip().splitlines()
    finally:
        _remove(api, helper)
    if not output:
        raise BackendError(f"removing {tag} in a helper container gave no report")
    report: dict[str, Any] = json.loads(output[-1])
    return report


@dataclass(frozen=True)
class StoppedHelpers:
    running: int  # helpers still holding the fault when stopped
    cleaned: bool  # there were helpers, and each keeper removed its changes (exit code 0)


def stop_helpers(api: APIClient, tag: str) -> StoppedHelpers:
    """Stops (SIGTERM: the keeper removes its fault) and removes the helpers of `tag`."""
    helpers = api.containers(all=True, filters={"label": f"{KEEPER_LABEL}={tag}"})
    running, exit_codes = 0, []
    for helper in helpers:
        running += helper["State"] == "running"
        try:
            api.stop(helper["Id"], timeout=int(STOP_TIMEOUT_S))
            exit_codes.append(api.inspect_container(helper["Id"])["State"]["ExitCode"])
        except NotFound:
            exit_codes.append(None)
            continue
        _remove(api, helper["Id"])
    return StoppedHelpers(running, bool(exit_codes) and all(code == 0 for code in exit_codes))


def _run(api: APIClient, own_id: str, target: Target, args: list[str], tag: str) -> str:
    image = api.inspect_container(own_id)["Image"]
    host_config = api.create_host_config(
        network_mode=f"container:{target.id}", cap_add=["NET_ADMIN"]
    )
    created = api.create_container(
        image,
        entrypoint=[sys.executable, "-m", MODULE],
        command=args,
        host_config=host_config,
        labels={KEEPER_LABEL: tag, PROTECTED_LABEL: "true"},
    )
    api.start(created["Id"])
    return str(created["Id"])


def _first_line(api: APIClient, helper: str) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        lines = api.logs(helper, stdout=True, stderr=False).decode().splitlines()
        if lines:
            result: dict[str, Any] = json.loads(lines[0])
            return result
        if not api.inspect_container(helper)["State"]["Running"]:
            errors = api.logs(helper, stdout=False, stderr=True).decode().strip().splitlines()
            return {"ready": False, "error": errors[-1] if errors else "the helper exited"}
        time.sleep(0.05)
    return {"ready": False, "error": f"no answer from the helper within {READY_TIMEOUT_S:g}s"}


def _remove(api: APIClient, helper: str) -> None:
    with contextlib.suppress(NotFound, APIError):  # already gone, or being removed
        api.remove_container(helper, force=True)
