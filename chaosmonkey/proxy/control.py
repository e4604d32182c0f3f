"""The control API (JSON over HTTP, on 127.0.0.1 by default) and `serve`, the command's loop.

    GET    /proxies                        every proxy, with its toxics
    POST   /proxies                        {name, listen, upstream, toxics?} -> 201
    GET    /proxies/{name}                 one proxy
    DELETE /proxies/{name}                 stops it, closing its connections -> 204
    GET    /proxies/{name}/toxics          its toxics
    POST   /proxies/{name}/toxics          {name?, type, stream, toxicity, attributes} -> 201
    GET    /proxies/{name}/toxics/{toxic}  one toxic
    DELETE /proxies/{name}/toxics/{toxic}  -> 204
    POST   /reset                          removes every toxic of every proxy -> 204

Errors are `{"error": "field: message"}`: 400 for a bad body, 404 for an unknown name, 409 for a
name in use, 403 for an upstream or listen address not allowed (reach.py).

Every request is checked first (access.py): 403 for a browser `Origin` not allowed, 401 without
the bearer token (when one is set), 415 for a body that is not `application/json`. Allowed
origins get CORS answers (preflights included).
"""

from __future__ import annotations

import asyncio
import gc
import signal
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from chaosmonkey.proxy.access import Access, Refusal
from chaosmonkey.proxy.config import (
    ListenError,
    NameTaken,
    NotAllowed,
    ProxyConfigError,
    ProxyFile,
    ProxySpec,
    ToxicSpec,
    UnknownName,
    command_settings,
    parse_address,
    validate,
)
from chaosmonkey.proxy.reach import Reach
from chaosmonkey.proxy.server import Proxies, Proxy

PROXIES = web.AppKey("proxies", Proxies)
ACCESS = web.AppKey("access", Access)
REACH = web.AppKey("reach", Reach)
MAX_BODY_BYTES = 256 * 1024
_CORS = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}
log = structlog.get_logger("chaosmonkey.proxy")


def make_app(
    proxies: Proxies, access: Access | None = None, reach: Reach | None = None
) -> web.Application:
    """The API on `proxies`: open to requests without Origin and loopback upstreams unless told."""
    app = web.Application(middlewares=[_guard, _errors], client_max_size=MAX_BODY_BYTES)
    app[PROXIES] = proxies
    app[ACCESS] = access or Access()
    app[REACH] = reach or Reach()
    app.add_routes(
        [
            web.get("/proxies", list_proxies),
            web.post("/proxies", create_proxy),
            web.get("/proxies/{proxy}", get_proxy),
            web.delete("/proxies/{proxy}", delete_proxy),
            web.get("/proxies/{proxy}/toxics", list_toxics),
            web.post("/proxies/{proxy}/toxics", create_toxic),
            web.get("/proxies/{proxy}/toxics/{toxic}", get_toxic),
            web.delete("/proxies/{proxy}/toxics/{toxic}", delete_toxic),
            web.post("/reset", reset),
        ]
    )
    return app


async def list_proxies(request: web.Request) -> web.Response:
    proxies = request.app[PROXIES].by_name.values()
    return web.json_response([proxy.to_dict() for proxy in proxies])


async def create_proxy(request: web.Request) -> web.Response:
    spec = validate(ProxySpec, await _body(request))
    reach = request.app[REACH]
    await reach.check(spec)
    proxy = await request.app[PROXIES].add(spec, reach=reach)
    return web.json_response(proxy.to_dict(), status=201)


async def get_proxy(request: web.Request) -> web.Response:
    return web.json_response(_proxy(request).to_dict())


async def delete_proxy(request: web.Request) -> web.Response:
    await request.app[PROXIES].remove(request.match_info["proxy"])
    return web.Response(status=204)


async def list_toxics(request: web.Request) -> web.Response:
    return web.json_response([toxic.to_dict() for toxic in _proxy(request).toxics.values()])


async def create_toxic(request: web.Request) -> web.Response:
    proxy = _proxy(request)
    toxic = validate(ToxicSpec, await _body(request)).build()
    proxy.add_toxic(toxic)
    return web.json_response(toxic.to_dict(), status=201)


async def get_toxic(request: web.Request) -> web.Response:
    return web.json_response(_proxy(request).toxic(request.match_info["toxic"]).to_dict())


async def delete_toxic(request: web.Request) -> web.Response:
    _proxy(request).remove_toxic(request.match_info["toxic"])
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    request.app[PROXIES].reset()
    return web.Response(status=204)


def _proxy(request: web.Request) -> Proxy:
    return request.app[PROXIES].get(request.match_info["proxy"])


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as error:
        raise ProxyConfigError(f"body: expected JSON ({error})") from None


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses what access.py refuses; CORS headers for the allowed origins."""
    origin = request.headers.get("Origin")
    access = request.app[ACCESS]
    preflight = request.method == "OPTIONS" and origin is not None
    refusal = access.refusal(
        origin=origin,
        authorization=request.headers.get("Authorization"),
        content_type=request.headers.get("Content-Type"),
        has_body=request.body_exists,
    )
    if refusal is not None and not (preflight and refusal.status != 403):
        log.warning(
            "control_refused", status=refusal.status, method=request.method, path=request.path
        )
        return _refused(refusal)
    response = web.Response(status=204) if preflight else await handler(request)
    if origin is not None:  # allowed, or it was refused above
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        if preflight:
            response.headers.update(_CORS)
    return response


def _refused(refusal: Refusal) -> web.Response:
    response = _error(refusal.status, refusal.message)
    response.headers.update(refusal.headers)
    return response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except UnknownName as error:
        return _error(404, str(error))
    except NameTaken as error:
        return _error(409, str(error))
    except NotAllowed as error:
        return _error(403, str(error))
    except (ProxyConfigError, ListenError) as error:
        return _error(400, str(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _error(error.status, f"{request.method} {request.path}: {error.reason}")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def start_control(
    proxies: Proxies, address: str, access: Access | None = None, reach: Reach | None = None
) -> tuple[web.AppRunner, int]:
    """Serves the control API at `address`; returns the runner and the port it listens on."""
    host, port = parse_address(address, port_zero=True)
    reach = reach or Reach.of((), address)
    app = make_app(proxies, access, reach)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        reason = (error.strerror or str(error)).rsplit(": ", 1)[-1]
        raise ListenError(f"--control: cannot listen on {address}: {reason}") from None
    return runner, runner.addresses[0][1]


def run_command(
    listen: str | None,
    upstream: str | None,
    name: str,
    control: str | None,
    config: Path | None,
    **options: Any,
) -> None:
    """`chaosmonkey proxy`: checks the options (exit 2 on a bad one), then serves. `options`
    are command_settings' keywords (allow-lists, token, limits)."""
    settings, address = command_settings(listen, upstream, name, control, config, **options)
    serve(settings, address)


def serve(settings: ProxyFile, control: str) -> None:
    """The proxies and the control API until SIGTERM or SIGINT."""
    asyncio.run(_serve(settings, control))


async def _serve(settings: ProxyFile, control: str) -> None:
    proxies = Proxies(
        settings.mark,
        max_connections=settings.max_connections,
        max_buffer_bytes=settings.max_buffer_bytes,
    )
    token = settings.token.get_secret_value() if settings.token else None
    access = Access(token, frozenset(settings.allow_origin))
    reach = Reach.of(settings.allow_upstream, control)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stopping, stop, signum)
    runner: web.AppRunner | None = None
    try:
        for spec in settings.proxies:
            await proxies.add(spec)
        runner, port = await start_control(proxies, control, access, reach)
        gc.freeze()  # what start-up made lives on: full collections need not scan it again
        log.info(
            "proxy_started",
            control=control,
            port=port,
            proxies=sorted(proxies.by_name),
            token=token is not None,
            allow_origin=sorted(access.origins),
            allow_upstream=[str(network) for network in reach.allowed],
        )
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        await proxies.close()
    log.info("proxy_stopped")


def _stopping(stop: asyncio.Event, signum: int) -> None:
    log.info("proxy_stopping", signal=signal.Signals(signum).name)
    stop.set()
