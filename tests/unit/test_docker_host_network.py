"""The Docker backend's host-network guard: a container on the host's network, its own or joined
through `network_mode: container:<id or name>` at any depth, gets no network fault unless
allowHostNetwork says so."""

from __future__ import annotations

from typing import Any

import pytest
from docker.errors import NotFound

from chaosmonkey.backends.docker import network
from chaosmonkey.errors import PolicyError, TargetGone
from chaosmonkey.model import Target

ID = {name: f"{index:064x}" for index, name in enumerate(["web", "sidecar", "nodeagent", "app"])}


class FakeEngine:
    """`inspect_container` by id or name over containers given as name -> network mode."""

    def __init__(self, modes: dict[str, str]) -> None:
        self.modes = modes

    def inspect_container(self, ref: str) -> dict[str, Any]:
        for name, mode in self.modes.items():
            if ref in (name, ID[name]):
                return {"Id": ID[name], "Name": f"/{name}", "HostConfig": {"NetworkMode": mode}}
        raise NotFound(f"No such container: {ref}")


def target(name: str) -> Target:
    return Target(backend="docker", id=ID[name], name=name, group=name)


def place(modes: dict[str, str], name: str, allow: bool = False) -> None:
    network.place(FakeEngine(modes), target(name), allow)  # type: ignore[arg-type]


@pytest.mark.parametrize("joined", [ID["nodeagent"], "nodeagent"])
def test_joining_a_host_network_container_is_refused(joined: str) -> None:
    """By id or by name, the joined container's host network is the target's."""
    modes = {"nodeagent": "host", "sidecar": f"container:{joined}"}
    with pytest.raises(PolicyError) as refused:
        place(modes, "sidecar")
    assert str(refused.value) == (
        "spec.fault.allowHostNetwork: container sidecar uses the host's network (it joins the "
        "network of container nodeagent): a network fault would degrade the host itself; set "
        "allowHostNetwork: true to allow it"
    )


def test_a_chain_of_joins_to_the_host_network_is_refused() -> None:
    modes = {"nodeagent": "host", "sidecar": "container:nodeagent", "app": "container:sidecar"}
    with pytest.raises(PolicyError, match="joins the network of container nodeagent"):
        place(modes, "app")


def test_the_host_network_itself_is_refused_as_before() -> None:
    with pytest.raises(PolicyError, match="container nodeagent uses the host's network: "):
        place({"nodeagent": "host"}, "nodeagent")


@pytest.mark.parametrize(
    "modes",
    [
        {"web": "bridge"},
        {"web": "default"},
        {"sidecar": "bridge", "web": f"container:{ID['sidecar']}"},
        {"nodeagent": "none", "sidecar": "container:nodeagent", "web": "container:sidecar"},
    ],
)
def test_a_containers_own_namespace_is_accepted(modes: dict[str, str]) -> None:
    place(modes, "web")


def test_allow_host_network_lets_a_joined_host_network_in() -> None:
    modes = {"nodeagent": "host", "sidecar": "container:nodeagent", "app": "container:sidecar"}
    place(modes, "app", allow=True)


def test_a_joined_container_that_is_gone_is_refused() -> None:
    """Its namespace cannot be told apart from the host's: refused, saying which is gone."""
    with pytest.raises(PolicyError, match="joins the network of container ghost, which is gone"):
        place({"web": "container:ghost"}, "web")


def test_an_endless_chain_is_refused() -> None:
    with pytest.raises(PolicyError, match="more than 16 containers joined in a chain"):
        place({"web": "container:app", "app": "container:web"}, "web")


def test_a_target_that_is_gone_is_target_gone() -> None:
    with pytest.raises(TargetGone):
        place({}, "web")
