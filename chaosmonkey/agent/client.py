"""The monkey's side of the node agent's API: one agent, at `host:port`, with the shared token."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import urllib3

from chaosmonkey.errors import BackendError, PermissionDenied, TargetGone
from chaosmonkey.model import RevertResult
from chaosmonkey.netfaults.launch import READY_TIMEOUT_S

TIMEOUT = urllib3.Timeout(connect=3.0, read=READY_TIMEOUT_S + 5.0)  # the agent waits for a keeper


class AgentUnreachable(BackendError):
    """No answer from the agent: whether it acted on the request is not known."""


class AgentNotConnected(AgentUnreachable):
    """Not even a connection to the agent: it received nothing, so it did nothing."""


class AgentClient:
    """Calls one node agent; its refusals become the project's errors."""

    def __init__(self, address: str, token: str, pool: urllib3.PoolManager | None = None) -> None:
        self.address = address
        self._token = token
        self._pool = pool or urllib3.PoolManager(retries=False, timeout=TIMEOUT)

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        """Applies a fault (a `FaultRequest` as JSON); returns what the agent holds."""
        held: dict[str, Any] = self._call("POST", "/faults", request)
        return held

    def revert(self, tag: str, pod_uid: str) -> RevertResult:
        """Reverts a fault by its tag in the pod's namespace."""
        path = f"/faults/{quote(tag, safe='')}?podUid={quote(pod_uid, safe='')}"
        return RevertResult(self._call("DELETE", path)["result"])

    def active(self) -> list[dict[str, Any]]:
        """The live faults on the agent's node."""
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        try:
            response = self._pool.request(
                method, f"http://{self.address}{path}", body=data, headers=headers
            )
        except urllib3.exceptions.ConnectTimeoutError as error:  # refused, unresolved, timed out
            raise AgentNotConnected(
                f"the node agent at {self.address} did not answer: {_reason(error)}"
            ) from error
        except urllib3.exceptions.HTTPError as error:
            raise AgentUnreachable(
                f"the node agent at {self.address} did not answer: {_reason(error)}"
            ) from error
        try:
            answer = json.loads(response.data or b"null")
        except ValueError:
            answer = {"error": response.data[:200].decode(errors="replace")}
        if response.status < 400:
            return answer
        raise _error(self.address, response.status, answer if isinstance(answer, dict) else {})


def _error(address: str, status: int, answer: dict[str, Any]) -> BackendError:
    message = f"the node agent at {address}: {answer.get('error') or f'HTTP {status}'}"
    if status == 401:
        return PermissionDenied(f"{message} (is the monkey's agent token the agent's?)")
    if answer.get("reason") == "target_gone":
        return TargetGone(message)
    return BackendError(message)


def _reason(error: Exception) -> str:
    """urllib3's message without the connection's repr it starts with."""
    return str(error).split("): ", 1)[-1]
