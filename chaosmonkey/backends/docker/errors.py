"""The Docker SDK's errors made into chaosmonkey's: one line each, saying what to do."""

from __future__ import annotations

import requests
from docker.errors import APIError, DockerException, NotFound

from chaosmonkey.errors import (
    BackendError,
    BackendUnavailable,
    PermissionDenied,
    TargetGone,
    root_os_error,
)

DEFAULT_URL = "unix:///var/run/docker.sock"
SDK_ERRORS = (DockerException, requests.RequestException)


def _reason(error: BaseException) -> str:
    """A short, one-line reason for an SDK error."""
    if isinstance(error, APIError) and error.explanation:
        text = str(error.explanation)
    elif (os_error := root_os_error(error)) is not None:
        text = str(os_error.strerror)
    else:
        text = str(error) or type(error).__name__
    return text.strip().splitlines()[0][:200] if text.strip() else type(error).__name__


def unreachable(url: str, error: BaseException) -> BackendError:
    if isinstance(root_os_error(error), PermissionError):
        path = url.removeprefix("unix://")
        return PermissionDenied(
            f"no permission on the Docker engine socket {path}: "
            "run as root or as a member of the docker group"
        )
    return BackendUnavailable(
        f"cannot reach the Docker engine at {url}: {_reason(error)}; "
        "is dockerd running? DOCKER_HOST selects another engine"
    )


def translate(error: BaseException, url: str, what: str) -> BackendError:
    if isinstance(error, NotFound):
        return TargetGone(f"{what}: the container is gone ({_reason(error)})")
    if isinstance(error, APIError) and error.status_code == 403:
        return PermissionDenied(f"{what}: the Docker engine refused: {_reason(error)}")
    if isinstance(error, APIError):
        return BackendError(f"{what}: the Docker engine answered: {_reason(error)}")
    return unreachable(url, error)
