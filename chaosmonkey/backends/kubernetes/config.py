"""Where the Kubernetes API is and who the monkey is, chosen without flags when unambiguous.

In a pod (KUBERNETES_SERVICE_HOST set and the service account's token mounted) the monkey uses its
service account; elsewhere a kubeconfig (KUBECONFIG, else ~/.kube/config). When both are possible,
or neither, it says so: CHAOSMONKEY_KUBE_CONFIG=in-cluster|kubeconfig settles the choice.
The monkey's own namespace (never attacked, its own pods with it) comes from the downward API
(POD_NAMESPACE) or the service account's namespace file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import config
from kubernetes.client import Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import (
    SERVICE_HOST_ENV_NAME,
    SERVICE_PORT_ENV_NAME,
    SERVICE_TOKEN_FILENAME,
)

from chaosmonkey.errors import BackendError

CHOICE_ENV = "CHAOSMONKEY_KUBE_CONFIG"
IN_CLUSTER, KUBECONFIG = "in-cluster", "kubeconfig"
SERVICE_ACCOUNT_DIR = Path(SERVICE_TOKEN_FILENAME).parent
DEFAULT_KUBECONFIG = Path("~/.kube/config")
# the client's loaders carry no annotations
_load_in_cluster: Callable[..., None] = config.load_incluster_config
_load_kubeconfig: Callable[..., None] = config.load_kube_config


@dataclass(frozen=True)
class ConfigChoice:
    """In-cluster (`kubeconfig` None), or the kubeconfig file(s) to read."""

    kubeconfig: str | None = None

    @property
    def in_cluster(self) -> bool:
        return self.kubeconfig is None


@dataclass(frozen=True)
class Identity:
    """Where the monkey itself runs, when it runs in a pod: never attacked."""

    namespace: str | None = None


def choose(env: Mapping[str, str], token: Path, default_kubeconfig: Path) -> ConfigChoice:
    """The configuration to use; BackendError when both or none are possible."""
    in_cluster = bool(env.get(SERVICE_HOST_ENV_NAME) and env.get(SERVICE_PORT_ENV_NAME))
    in_cluster = in_cluster and token.is_file()
    kubeconfig = env.get("KUBECONFIG") or (
        str(default_kubeconfig) if default_kubeconfig.is_file() else None
    )
    wanted = env.get(CHOICE_ENV, "")
    if wanted not in ("", IN_CLUSTER, KUBECONFIG):
        raise BackendError(f"{CHOICE_ENV}={wanted!r}: expected {IN_CLUSTER} or {KUBECONFIG}")
    if wanted == IN_CLUSTER or (in_cluster and not kubeconfig and not wanted):
        return ConfigChoice()
    if kubeconfig and (wanted == KUBECONFIG or not in_cluster):
        return ConfigChoice(kubeconfig)
    no_kubeconfig = f"no kubeconfig (KUBECONFIG or {default_kubeconfig})"
    if wanted == KUBECONFIG:
        raise BackendError(f"{CHOICE_ENV}={KUBECONFIG}, but there is {no_kubeconfig}")
    if not in_cluster:
        raise BackendError(
            "no Kubernetes configuration: not in a pod (KUBERNETES_SERVICE_HOST and the service "
            f"account token {token}) and {no_kubeconfig}"
        )
    raise BackendError(
        f"Kubernetes configuration is ambiguous: this is a pod with a service account, and the "
        f"kubeconfig {kubeconfig} exists; set {CHOICE_ENV}={IN_CLUSTER} or {KUBECONFIG}"
    )


def load(choice: ConfigChoice) -> Configuration:
    """The client configuration of `choice`; BackendError when it cannot be read."""
    configuration = Configuration()
    try:
        if choice.in_cluster:
            _load_in_cluster(client_configuration=configuration)
        else:
            _load_kubeconfig(config_file=choice.kubeconfig, client_configuration=configuration)
    except (ConfigException, OSError, ValueError, yaml.YAMLError) as error:
        where = "in-cluster service account" if choice.in_cluster else choice.kubeconfig
        reason = " ".join(str(error).split()) or type(error).__name__
        raise BackendError(
            f"cannot load the Kubernetes configuration ({where}): {reason}"
        ) from None
    return configuration


def identity(env: Mapping[str, str], choice: ConfigChoice) -> Identity:
    """POD_NAMESPACE, else, in a pod, its service account's namespace."""
    namespace = env.get("POD_NAMESPACE")
    if not namespace and choice.in_cluster:
        namespace = _read(SERVICE_ACCOUNT_DIR / "namespace")
    return Identity(namespace or None)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
