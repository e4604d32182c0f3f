"""The HTTP face of the simulator: an aiohttp app routing API paths to the verbs in `api`.

Paths are parsed by hand, as the API server's are: /api/v1[/namespaces/{ns}]/{resource}[/{name}
[/{subresource}]] and the same under /apis/{group}/{version}. Watches are chunked streams of
JSON lines that end after `timeoutSeconds`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.kubesim import resources
from tests.kubesim.api import Api, ListQuery, delete_options
from tests.kubesim.rbac import Users, forbidden
from tests.kubesim.resources import ResourceType
from tests.kubesim.selectors import parse_fields, parse_labels
from tests.kubesim.status import ApiError, bad_request, method_not_allowed, no_such_path
from tests.kubesim.store import Filter, Store, dumps

Obj = dict[str, Any]
DEFAULT_WATCH_S = 1800.0  # the API server's --min-request-timeout
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Route:
    """An API path, parsed."""

    rtype: ResourceType
    namespace: str | None  # None: cluster-scoped, or every namespace
    name: str | None
    subresource: str | None


class Server:
    """Routes requests to the verbs, after authentication and authorization."""

    def __init__(self, store: Store, api: Api, users: Users) -> None:
        self.store = store
        self.api = api
        self.users = users

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{path:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            user = self.users.authenticate(request.headers.get("Authorization"))
            parts = [part for part in request.path.split("/") if part]
            if parts in (["healthz"], ["livez"], ["readyz"]):
                return web.Response(text="ok")
            document = _discovery(parts, request.host)
            if document is not None:
                return _json(document)
            route = _route(parts)
            verb = _verb(request, route)
            if verb not in route.rtype.verbs and not (verb == "create" and route.subresource):
                raise method_not_allowed()
            resource = route.rtype.plural + (f"/{route.subresource}" if route.subresource else "")
            if not user.may(verb, resource, route.namespace):
                raise forbidden(
                    user, verb, route.rtype, route.subresource, route.namespace, route.name
                )
            if verb == "watch":
                return await self._watch(request, route)
            return await self._dispatch(request, route, verb)
        except ApiError as error:
            return _json(error.body, error.code)

    async def _dispatch(self, request: web.Request, route: Route, verb: str) -> web.Response:
        rtype, namespace, name = route.rtype, route.namespace or "", route.name or ""
        query = request.query
        if verb == "get":
            return _json(self.api.get(rtype, namespace, name))
        if verb == "list":
            listed = self.api.list(rtype, route.namespace, _list_query(query, rtype))
            return web.Response(body=listed, content_type="application/json")
        body = await _body(request)
        if verb == "create" and route.subresource == "eviction":
            return _json(self.api.evict(namespace, name, body, "dryRun" in query), 201)
        if verb == "create":
            return _json(self.api.create(rtype, route.namespace, body), 201)
        if verb == "update":
            return _json(self.api.replace(rtype, namespace, name, body))
        if verb == "patch":
            content_type = request.headers.get("Content-Type", "")
            return _json(self.api.patch(rtype, namespace, name, body, content_type))
        options = delete_options(body, dict(query))
        return _json(self.api.delete(rtype, namespace, name, options))

    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        query = request.query
        wanted = Filter(
            route.namespace,
            parse_labels(query.get("labelSelector")),
            parse_fields(_name_field(query.get("fieldSelector"), route), route.rtype.plural),
        )
        deadline = time.monotonic() + _timeout_s(query.get("timeoutSeconds"))
        watcher = self.store.watch(route.rtype.plural, wanted, query.get("resourceVersion"))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            await _pump(watcher.queue, response, request, deadline)
        finally:
            self.store.unwatch(watcher)
        return response


async def _pump(
    queue: asyncio.Queue[bytes | None],
    response: web.StreamResponse,
    request: web.Request,
    deadline: float,
) -> None:
    """Sends queued lines until the deadline, the end of the stream, or the client leaving."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            line = await asyncio.wait_for(queue.get(), timeout=min(remaining, 1.0))
        except TimeoutError:
            if request.transport is None or request.transport.is_closing():
                return
            continue
        if line is None:
            return
        try:
            await response.write(line)
        except (ConnectionError, RuntimeError):
            return


def _timeout_s(text: str | None) -> float:
    if text is None:
        return DEFAULT_WATCH_S
    try:
        return max(0.0, float(text))
    except ValueError:
        raise bad_request(f'timeoutSeconds: Invalid value: "{text}"') from None


def _name_field(selector: str | None, route: Route) -> str | None:
    """A watch on /{resource}/{name} (the old form) is a watch with metadata.name=."""
    if route.name is None:
        return selector
    own = f"metadata.name={route.name}"
    return f"{selector},{own}" if selector else own


def _list_query(query: Any, rtype: ResourceType) -> ListQuery:
    limit = query.get("limit")
    try:
        limit_n = int(limit) if limit else None
    except ValueError:
        raise bad_request(f'limit: Invalid value: "{limit}"') from None
    return ListQuery(
        parse_labels(query.get("labelSelector")),
        parse_fields(query.get("fieldSelector"), rtype.plural),
        limit_n if limit_n and limit_n > 0 else None,
        query.get("continue") or None,
    )


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise bad_request(f"the request body is not valid JSON: {error}") from None


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(document), status=status, content_type="application/json")


def _discovery(parts: list[str], host: str) -> Obj | None:
    """The discovery document at `parts`, None for a resource path; 404 for an unknown group."""
    if parts == ["version"]:
        return resources.version_info()
    if parts == ["api"]:
        return resources.core_versions(host)
    if parts == ["apis"]:
        return resources.group_list()
    if len(parts) == 2 and parts[0] == "api":
        return resources.resource_list("", parts[1]) or _raise(no_such_path())
    if len(parts) == 2 and parts[0] == "apis":
        if parts[1] not in resources.groups():
            raise no_such_path()
        return resources.group_document(parts[1])
    if len(parts) == 3 and parts[0] == "apis":
        return resources.resource_list(parts[1], parts[2]) or _raise(no_such_path())
    return None


def _raise(error: ApiError) -> Obj:
    raise error


def _route(parts: list[str]) -> Route:
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise no_such_path()
    if rest[0] == "namespaces" and len(rest) >= 3:
        rtype = resources.find(group, version, rest[2])
        if rtype is None or not rtype.namespaced or len(rest) > 5:
            raise no_such_path()
        name, sub = [*rest[3:], None, None][:2]
        route = Route(rtype, rest[1], name, sub)
    else:
        rtype = resources.find(group, version, rest[0])
        if rtype is None or len(rest) > 3 or (rtype.namespaced and len(rest) > 1):
            raise no_such_path()
        name, sub = [*rest[1:], None, None][:2]
        route = Route(rtype, None, name, sub)
    if route.subresource is not None and route.subresource not in rtype.subresources:
        raise no_such_path()
    return route


def _verb(request: web.Request, route: Route) -> str:
    method = request.method
    if method == "GET":
        if route.name is not None and route.subresource is None:
            return "watch" if _is_watch(request) else "get"
        if route.subresource is not None:
            raise method_not_allowed()
        return "watch" if _is_watch(request) else "list"
    if method == "POST":
        creates_object = route.name is None
        creates_subresource = route.name is not None and route.subresource is not None
        if creates_object or creates_subresource:
            return "create"
        raise method_not_allowed()
    if route.name is None or route.subresource is not None:
        raise method_not_allowed()
    verbs = {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if method not in verbs:
        raise method_not_allowed()
    return verbs[method]


def _is_watch(request: web.Request) -> bool:
    return request.query.get("watch", "").lower() in ("true", "1")
