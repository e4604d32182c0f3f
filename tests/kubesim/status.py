"""API errors as the real API server sends them: `Status` bodies with code, reason and message."""

from __future__ import annotations

from typing import Any

from tests.kubesim.resources import ResourceType


class ApiError(Exception):
    """A request the API refuses; `body` is the `Status` object sent back."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    @property
    def body(self) -> dict[str, Any]:
        return failure(self.code, self.reason, self.message, self.details)


def failure(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A `Status` object with status Failure."""
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        status["details"] = details
    status["code"] = code
    return status


def success(rtype: ResourceType, name: str, uid: str) -> dict[str, Any]:
    """The `Status` a delete answers with for types that do not return the deleted object."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {**_details(rtype, name), "uid": uid},
    }


def _details(rtype: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if rtype.group:
        details["group"] = rtype.group
    details["kind"] = rtype.plural
    return details


def not_found(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rtype.qualified} "{name}" not found', _details(rtype, name))


def already_exists(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{rtype.qualified} "{name}" already exists', _details(rtype, name)
    )


def conflict(rtype: ResourceType, name: str, why: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {rtype.qualified} "{name}": {why}'
    return ApiError(409, "Conflict", message, _details(rtype, name))


def modified_since(rtype: ResourceType, name: str) -> ApiError:
    """The optimistic-concurrency failure of an update with a stale resourceVersion."""
    why = (
        "the object has been modified; please apply your changes to the latest version and "
        "try again"
    )
    return conflict(rtype, name, why)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid(rtype: ResourceType, name: str, field: str, cause: str, why: str) -> ApiError:
    """422: the object fails validation at `field`; `cause` is the cause's reason."""
    details = {
        "name": name,
        **({"group": rtype.group} if rtype.group else {}),
        "kind": rtype.kind,
        "causes": [{"reason": cause, "message": why, "field": field}],
    }
    message = f'{rtype.kind} "{name}" is invalid: {field}: {why}'
    return ApiError(422, "Invalid", message, details)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def no_such_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
