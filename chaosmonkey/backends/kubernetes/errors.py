"""Errors of the Kubernetes client turned into chaosmonkey's own, each one line.

A refusal (403) names the RBAC rule the monkey lacks; what a 400, 404 or 429 means depends on the
call, so the caller says which of its own errors each stands for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from chaosmonkey.errors import (
    BackendError,
    BackendUnavailable,
    ChaosMonkeyError,
    PermissionDenied,
    root_os_error,
)

# What the client raises: the API's answers, and transport failures on the way to it.
CLIENT_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)
MAX_MESSAGE = 300

ByStatus = Mapping[int, Callable[[str], ChaosMonkeyError]]


@dataclass(frozen=True)
class Rule:
    """The RBAC rule a call needs, named when the API refuses it."""

    verb: str
    resource: str
    api_group: str = ""
    namespace: str | None = None  # None: a cluster-scoped resource

    def __str__(self) -> str:
        where = f'a Role in namespace "{self.namespace}"' if self.namespace else "a ClusterRole"
        return (
            f'{where} with apiGroups: ["{self.api_group}"], resources: ["{self.resource}"], '
            f'verbs: ["{self.verb}"]'
        )


def status_body(error: ApiException) -> dict[str, Any]:
    """The Status object the API sent with its error, {} when the body is not one."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def api_message(error: ApiException) -> str:
    """The API's own message for an error, with its causes (a disruption budget's, say)."""
    body = status_body(error)
    message = str(body.get("message") or error.reason or f"HTTP {error.status}")
    causes = [
        str(cause["message"])
        for cause in (body.get("details") or {}).get("causes") or ()
        if cause.get("message") and cause["message"] not in message
    ]
    text = f"{message.rstrip('.')}: {'; '.join(causes)}" if causes else message
    return " ".join(text.split())[:MAX_MESSAGE]


def root_reason(error: BaseException) -> str:
    """The operating system's reason at the root of a transport error, else the error's text."""
    if (os_error := root_os_error(error)) is not None:
        return str(os_error.strerror)
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:MAX_MESSAGE]


def translate(
    error: BaseException,
    *,
    what: str,
    url: str,
    rule: Rule | None = None,
    by_status: ByStatus | None = None,
) -> ChaosMonkeyError:
    """The chaosmonkey error for a failed call to the API at `url` doing `what`."""
    if not isinstance(error, ApiException):
        return BackendUnavailable(
            f"cannot reach the Kubernetes API at {url}: {root_reason(error)} ({what})"
        )
    status, message = int(error.status or 0), api_message(error)
    if by_status and status in by_status:
        return by_status[status](message)
    if status == 401:
        return PermissionDenied(
            f"{what}: the Kubernetes API at {url} does not accept our credentials ({message}): "
            "check the kubeconfig's user or the service account's token"
        )
    if status == 403:
        needs = f"; the monkey needs {rule}" if rule else ""
        return PermissionDenied(f"no permission: {message}{needs}")
    return BackendError(f"{what}: the Kubernetes API answered {status}: {message}")
