"""Which Kubernetes configuration the monkey uses, who it is, and how client errors read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from chaosmonkey.backends.kubernetes.config import ConfigChoice, Identity, choose, identity, load
from chaosmonkey.backends.kubernetes.errors import Rule, api_message, translate
from chaosmonkey.errors import (
    BackendError,
    BackendUnavailable,
    FaultRefused,
    PermissionDenied,
)

IN_POD = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("t0ken")
    return path


def test_a_pod_without_kubeconfig_uses_its_service_account(token: Path, tmp_path: Path) -> None:
    """In a pod (service host and token) with no kubeconfig: in-cluster."""
    assert choose(IN_POD, token, tmp_path / "none").in_cluster


def test_outside_a_pod_the_kubeconfig_is_used(token: Path, tmp_path: Path) -> None:
    """KUBECONFIG first, else ~/.kube/config when it exists."""
    assert choose({"KUBECONFIG": "/k/a:/k/b"}, token, tmp_path / "none") == ConfigChoice(
        "/k/a:/k/b"
    )
    home = tmp_path / "config"
    home.write_text("{}")
    assert choose({}, token, home) == ConfigChoice(str(home))
    assert choose({"KUBERNETES_SERVICE_HOST": "x"}, tmp_path / "no-token", home).kubeconfig


def test_both_or_neither_is_one_clear_line(token: Path, tmp_path: Path) -> None:
    """Both possible: ambiguous, and how to settle it; neither: what was looked for."""
    with pytest.raises(BackendError, match=r"ambiguous.*CHAOSMONKEY_KUBE_CONFIG=in-cluster"):
        choose({**IN_POD, "KUBECONFIG": "/k"}, token, tmp_path / "none")
    with pytest.raises(BackendError, match="no Kubernetes configuration: not in a pod"):
        choose({}, token, tmp_path / "none")
    chosen = choose(
        {**IN_POD, "KUBECONFIG": "/k", "CHAOSMONKEY_KUBE_CONFIG": "kubeconfig"}, token, tmp_path
    )
    assert chosen == ConfigChoice("/k")
    with pytest.raises(BackendError, match="expected in-cluster or kubeconfig"):
        choose({"CHAOSMONKEY_KUBE_CONFIG": "yes"}, token, tmp_path)


def test_an_unreadable_kubeconfig_is_a_backend_error(tmp_path: Path) -> None:
    """A kubeconfig that is not one is named, with the client's reason."""
    bad = tmp_path / "kubeconfig"
    bad.write_text("not: [a, kubeconfig")
    with pytest.raises(BackendError, match=f"cannot load the Kubernetes configuration \\({bad}\\)"):
        load(ConfigChoice(str(bad)))


def test_identity_from_the_downward_api() -> None:
    """POD_NAMESPACE names the monkey's own namespace; outside a pod, without it, none."""
    assert identity({"POD_NAMESPACE": "chaos"}, ConfigChoice("/k")) == Identity("chaos")
    assert identity({}, ConfigChoice("/k")) == Identity(None)


def api_error(
    status: int, message: str, causes: list[dict[str, str]] | None = None
) -> ApiException:
    body = {"kind": "Status", "status": "Failure", "message": message, "code": status}
    if causes:
        body["details"] = {"causes": causes}
    return ApiException(status=status, reason="Reason", body=json.dumps(body))


def test_a_refusal_names_the_missing_rule() -> None:
    """403: the API's message and the Role rule to grant."""
    message = (
        'pods "web-1" is forbidden: User "u" cannot delete resource "pods" in the namespace "shop"'
    )
    error = translate(
        api_error(403, message),
        what="delete pod shop/web-1",
        url="https://k",
        rule=Rule("delete", "pods", "", "shop"),
    )
    assert isinstance(error, PermissionDenied)
    assert str(error) == (
        f'no permission: {message}; the monkey needs a Role in namespace "shop" with '
        'apiGroups: [""], resources: ["pods"], verbs: ["delete"]'
    )
    cluster = translate(api_error(403, "no"), what="x", url="u", rule=Rule("get", "namespaces"))
    assert "a ClusterRole with" in str(cluster)


def test_status_codes_map_to_what_the_caller_says() -> None:
    """A 429 of an eviction is a refusal with the budget's cause; others default to BackendError."""
    refused = translate(
        api_error(
            429,
            "Cannot evict pod as it would violate the pod's disruption budget.",
            [{"reason": "DisruptionBudget", "message": "The disruption budget pdb needs 2"}],
        ),
        what="evict",
        url="u",
        by_status={429: FaultRefused},
    )
    assert isinstance(refused, FaultRefused)
    assert str(refused) == (
        "Cannot evict pod as it would violate the pod's disruption budget: "
        "The disruption budget pdb needs 2"
    )
    other = translate(api_error(500, "etcd down"), what="listing pods", url="u")
    assert type(other) is BackendError
    assert str(other) == "listing pods: the Kubernetes API answered 500: etcd down"
    assert api_message(ApiException(status=502, reason="Bad Gateway")) == "Bad Gateway"


def test_an_unreachable_api_names_its_address_and_the_reason() -> None:
    """Connection refused deep inside urllib3's retries comes out as the OS's reason."""
    pool = urllib3.PoolManager(retries=urllib3.Retry(0, raise_on_redirect=False))
    with pytest.raises(urllib3.exceptions.HTTPError) as caught:
        pool.request("GET", "http://127.0.0.1:9/version")
    error = translate(caught.value, what="listing pods", url="http://127.0.0.1:9")
    assert isinstance(error, BackendUnavailable)
    assert str(error) == (
        "cannot reach the Kubernetes API at http://127.0.0.1:9: Connection refused (listing pods)"
    )
