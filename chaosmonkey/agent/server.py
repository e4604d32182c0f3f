"""The node agent's HTTP API (aiohttp), every call but the health check behind a bearer token.

    GET    /healthz                       "ok", without a token (for the kubelet's probes)
    GET    /faults                        the live faults on this node
    POST   /faults                        a `FaultRequest` -> 201 (200: it was already applied)
    DELETE /faults/{tag}?podUid=UID       {"result": reverted | already_clean | target_gone}

Errors are `{"error": message, "reason": ...}`: 401 without the token, 400 for a bad request,
404 (reason target_gone) when the pod has no process on this node, 403 when the agent's limits
refuse it (reason namespace or duration), 409 (reason host_network) for a pod in the node's own
network unless both the agent and the fault allow it, 500 when the fault could not be applied or
removed.
"""

from __future__ import annotations

import asyncio
import hmac
import signal
from pathlib import Path

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from chaosmonkey.agent.faults import FaultRequest, active_faults, apply_fault, revert_fault
from chaosmonkey.agent.limits import AgentLimits, Refused
from chaosmonkey.agent.orphans import remove_orphans
from chaosmonkey.agent.sandbox import POD_LOGS
from chaosmonkey.errors import ChaosMonkeyError, PolicyError, TargetGone
from chaosmonkey.netfaults.netns import HostNamespaceRefused

TOKEN = web.AppKey("token", str)
LIMITS = web.AppKey("limits", AgentLimits)
PODS = web.AppKey("pod_logs", Path)  # where the pods' namespaces are read
log = structlog.get_logger("chaosmonkey.agent")


def make_app(token: str, limits: AgentLimits, pod_logs: Path = POD_LOGS) -> web.Application:
    app = web.Application(middlewares=[_errors, _authenticated])
    app[TOKEN] = token
    app[LIMITS] = limits
    app[PODS] = pod_logs
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/faults", list_faults),
            web.post("/faults", create_fault),
            web.delete("/faults/{tag}", delete_fault),
        ]
    )
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(active_faults))


async def create_fault(request: web.Request) -> web.Response:
    try:
        body = FaultRequest.model_validate(await request.json())
    except (ValueError, ValidationError) as error:
        raise web.HTTPBadRequest(reason=_one_line(error)) from None
    held = await asyncio.to_thread(
        apply_fault, body, request.app[LIMITS], pod_logs=request.app[PODS]
    )
    log.info("fault_applied", tag=body.tag, pod_uid=body.pod_uid, fault=body.fault.type)
    return web.json_response(held, status=200 if held["already_applied"] else 201)


async def delete_fault(request: web.Request) -> web.Response:
    tag, pod_uid = request.match_info["tag"], request.query.get("podUid", "")
    try:
        result = await asyncio.to_thread(revert_fault, tag, pod_uid)
    except ValueError as error:
        raise web.HTTPBadRequest(reason=_one_line(error)) from None
    log.info("fault_reverted", tag=tag, pod_uid=pod_uid, result=str(result))
    return web.json_response({"tag": tag, "result": str(result)})


@web.middleware
async def _authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == "/healthz":
        return await handler(request)
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {request.app[TOKEN]}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _error(401, "expected the agent's bearer token in the Authorization header")
    return await handler(request)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except TargetGone as error:
        return _error(404, str(error), "target_gone")
    except Refused as error:
        log.warning("fault_refused", path=request.path, reason=error.reason, error=str(error))
        return _error(409 if error.reason == "host_network" else 403, str(error), error.reason)
    except HostNamespaceRefused as error:
        return _error(409, str(error), "host_network")
    except ChaosMonkeyError as error:
        return _error(500, str(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _error(error.status, f"{request.method} {request.path}: {error.reason}")


def _error(status: int, message: str, reason: str | None = None) -> web.Response:
    return web.json_response({"error": message, "reason": reason}, status=status)


def _one_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"{where}: {first['msg']}"
    return " ".join(str(error).split())


def read_token(path: Path) -> str:
    """The shared token, from its file (a mounted Secret); PolicyError when missing or empty."""
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise PolicyError("--token-file", f"cannot read {path}: {error.strerror}") from None
    if not token:
        raise PolicyError("--token-file", f"{path} is empty: expected the agent's token")
    return token


def serve(host: str, port: int, token: str, limits: AgentLimits, pod_logs: Path = POD_LOGS) -> None:
    """The agent's API until SIGTERM or SIGINT; live keepers go on to their deadlines. First,
    the faults whose keepers died (with a previous agent's container) are removed."""
    remove_orphans()
    asyncio.run(_serve(host, port, make_app(token, limits, pod_logs)))


async def _serve(host: str, port: int, app: web.Application) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port, reuse_address=True).start()
        except OSError as error:
            reason = error.strerror or str(error)
            raise PolicyError("--listen", f"cannot listen on {host}:{port}: {reason}") from None
        limits = app[LIMITS]
        log.info(
            "agent_started",
            host=host,
            port=port,
            namespaces=sorted(limits.namespaces),
            own_namespace=limits.own_namespace,
            allow_host_network=limits.allow_host_network,
            max_duration_s=limits.max_duration_s,
        )
        await stop.wait()
    finally:
        await runner.cleanup()
    log.info("agent_stopped")
