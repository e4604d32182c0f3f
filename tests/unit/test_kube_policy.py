"""Kubernetes policies: the namespace allow-list, label selectors, faults fitting the backend."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosmonkey.errors import PolicyError, PolicyErrors
from chaosmonkey.faults.evict import EvictFault
from chaosmonkey.faults.kill import KillFault
from chaosmonkey.model import Target
from chaosmonkey.policy import load_policy
from chaosmonkey.policy.labelselector import Requirement, check, parse


def write(tmp_path: Path, backend: str, targets: dict[str, Any], fault: dict[str, Any]) -> Path:
    document = {
        "apiVersion": "chaosmonkey/v1",
        "kind": "Policy",
        "metadata": {"name": "kube"},
        "spec": {"backend": backend, "targets": targets, "fault": fault},
    }
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(PolicyErrors) as caught:
        load_policy(path)
    assert len(caught.value.errors) == 1, caught.value
    return str(caught.value.errors[0])


def test_a_kubernetes_policy_reads_its_scope_and_faults(tmp_path: Path) -> None:
    """namespaces, selector, allowHostNetwork, optIn and the two pod faults load as written."""
    targets = {
        "namespaces": ["shop", "pay"],
        "selector": "app=web,tier!=db",
        "allowHostNetwork": True,
        "optIn": True,
        "minAge": "10m",
    }
    policy = load_policy(write(tmp_path, "kubernetes", targets, {"type": "kill", "gracePeriod": 5}))
    assert policy.spec.targets.namespaces == ["shop", "pay"]
    assert policy.spec.targets.selector == "app=web,tier!=db"
    assert policy.spec.targets.allow_host_network
    assert policy.spec.targets.opt_in
    assert policy.spec.fault == KillFault(type="kill", grace_period=timedelta(seconds=5))
    evict = load_policy(write(tmp_path, "kubernetes", targets, {"type": "evict"}))
    assert evict.spec.fault == EvictFault(type="evict")


@pytest.mark.parametrize(
    ("backend", "targets", "fault", "expected"),
    [
        ("kubernetes", {}, {"type": "kill"}, "spec.targets: namespaces: expected the namespaces"),
        (
            "kubernetes",
            {"namespaces": ["kube-system"]},
            {"type": "kill"},
            "spec.targets: namespaces: kube-system is never attacked",
        ),
        (
            "kubernetes",
            {"namespaces": ["shop"]},
            {"type": "pause"},
            "spec.fault: a pause fault is not available on kubernetes; "
            "expected one of evict, kill or a network fault",
        ),
        (
            "kubernetes",
            {"namespaces": ["shop"]},
            {"type": "kill", "signal": "SIGTERM"},
            "spec.fault: signal: docker settings; on kubernetes a kill deletes the pod",
        ),
        (
            "docker",
            {"selector": "app=web"},
            {"type": "kill"},
            "spec.targets: selector: only with backend kubernetes",
        ),
        ("docker", {}, {"type": "evict"}, "spec.fault: an evict fault (the Eviction API) needs"),
        (
            "docker",
            {},
            {"type": "kill", "gracePeriod": "5s"},
            "spec.fault: gracePeriod: a kubernetes setting",
        ),
        (
            "kubernetes",
            {"namespaces": ["shop"], "selector": "app=web,tier=!db"},
            {"type": "kill"},
            "spec.targets.selector: expected a label selector such as 'app=web,tier!=db': "
            "value '!db'",
        ),
    ],
)
def test_bad_kubernetes_input_is_one_line_with_its_field(
    tmp_path: Path, backend: str, targets: dict[str, Any], fault: dict[str, Any], expected: str
) -> None:
    """Each mismatch between backend and fields is named at its line, before anything runs."""
    path = write(tmp_path, backend, targets, fault)
    message = error_of(path)
    assert message.startswith(f"{path}:"), message
    assert expected in message, message


def test_selectors_parse_into_requirements() -> None:
    """Equality, inequality, set-based and existence requirements, with prefixed keys."""
    text = "app=web, tier != db,env in (prod, staging),app.kubernetes.io/name notin (x),canary,!old"
    assert parse(text) == [
        Requirement("app", "=", ("web",)),
        Requirement("tier", "!=", ("db",)),
        Requirement("env", "in", ("prod", "staging")),
        Requirement("app.kubernetes.io/name", "notin", ("x",)),
        Requirement("canary", "exists"),
        Requirement("old", "!"),
    ]
    assert parse("app==web") == [Requirement("app", "=", ("web",))]
    assert parse("tier=") == [Requirement("tier", "=", ("",))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app=web,", "'' is not a requirement"),
        ("app in ()", "expected at least one value"),
        ("app in (a b)", "value 'a b'"),
        ("-app=web", "'-app=web' is not a requirement"),
        (f"app={'x' * 64}", "expected at most 63"),
        (f"{'k' * 64}=v", "longer than 63"),
        ("app=web)", "value 'web)'"),
        ("app >= 3", "'app >= 3' is not a requirement"),
    ],
)
def test_invalid_selectors_name_the_bad_part(text: str, expected: str) -> None:
    """An invalid selector is refused with the part at fault and an example of a valid one."""
    with pytest.raises(ValueError, match="expected a label selector such as") as caught:
        check(text)
    assert expected in str(caught.value)


def test_the_docker_backend_refuses_kubernetes_faults_built_in_code() -> None:
    """A policy built in code skips validation: its injection on a container still refuses
    gracePeriod and evict, before anything is recorded or changed."""
    target = Target("docker", "c1", "web-1", "web")
    graceful = KillFault(type="kill", grace_period=timedelta(seconds=1))
    with pytest.raises(PolicyError, match=r"spec\.fault: gracePeriod: a kubernetes setting"):
        graceful.injection("a1", target, object())
    with pytest.raises(PolicyError, match=r"evict fault \(the Eviction API\) needs backend kube"):
        EvictFault(type="evict").injection("a1", target, object())
