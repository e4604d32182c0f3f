"""Calls to the Kubernetes API as JSON dicts, their failures turned into chaosmonkey's errors.

The client's models are too slow for thousands of pods and a watch is read as it comes, so every
call asks for the raw HTTP response and reads it here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api

from chaosmonkey.backends.kubernetes.errors import CLIENT_ERRORS, ByStatus, Rule, translate
from chaosmonkey.backends.kubernetes.pods import Pod

PAGE = 500  # items per list request
TIMEOUT_S = (5.0, 60.0)  # connect, read


class KubeApi:
    """The client of one API server, with the core and apps groups."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.core = CoreV1Api(client)
        self.apps = AppsV1Api(client)
        self.url = str(client.configuration.host)

    @contextmanager
    def calling(
        self, what: str, rule: Rule | None = None, by_status: ByStatus | None = None
    ) -> Iterator[None]:
        """Turns the client's errors within into chaosmonkey's: `what` was being done, `rule` is
        the RBAC rule it needs, `by_status` what some statuses mean for this call."""
        try:
            yield
        except CLIENT_ERRORS as error:
            raise translate(
                error, what=what, url=self.url, rule=rule, by_status=by_status
            ) from error

    @staticmethod
    def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        """The HTTP response of a call, unread."""
        kwargs.setdefault("_request_timeout", TIMEOUT_S)
        response: urllib3.BaseHTTPResponse = call(*args, _preload_content=False, **kwargs)
        return response

    def json(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One call's JSON answer, as a dict."""
        response = self.raw(call, *args, **kwargs)
        try:
            data: dict[str, Any] = json.loads(response.data)
        finally:
            response.release_conn()
        return data

    def list_all(
        self, call: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> tuple[list[Pod], str]:
        """Every item of a list, page by page, and the list's resourceVersion."""
        items: list[Pod] = []
        token: str | None = None
        while True:
            page = self.json(call, *args, limit=PAGE, _continue=token, **kwargs)
            items.extend(page.get("items") or ())
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    def close(self) -> None:
        close: Callable[[], None] = self.client.close  # not annotated in the client
        close()
