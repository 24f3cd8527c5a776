"""The target's aiohttp application: routes, authentication, fault injection and request metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from slacklike_target.admin import clear_faults, list_faults, mint_tokens, put_fault
from slacklike_target.context import TARGET_CONTEXT, TargetConfig, TargetContext
from slacklike_target.http_io import json_response, read_args, request_token
from slacklike_target.methods import METHODS, Call
from slacklike_target.metrics import status_label
from slacklike_target.realtime import MAX_INCOMING_MESSAGE_BYTES, Connection
from slacklike_target.tokens import Identity
from slacklike_target.wire import API_METHODS, WEBSOCKET_METHOD, ErrorCode, TargetApiError

MINT_METHOD = "admin.tokens.mint"
MAX_REQUEST_BYTES = 1024 * 1024
_INJECTED = {429: ErrorCode.RATELIMITED, 500: ErrorCode.INTERNAL_ERROR, 503: ErrorCode.SERVICE_UNAVAILABLE}


def build_app(config: TargetConfig) -> web.Application:
    """A target application with fresh state; its shared objects are ``app[TARGET_CONTEXT]``."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[TARGET_CONTEXT] = TargetContext(config)
    app.router.add_route("*", "/api/{method}", api_endpoint)
    app.router.add_get("/ws", websocket_endpoint)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_get("/healthz", healthz_endpoint)
    app.router.add_put("/admin/faults", put_fault)
    app.router.add_get("/admin/faults", list_faults)
    app.router.add_delete("/admin/faults", clear_faults)
    app.on_shutdown.append(_close_websockets)
    return app


async def _close_websockets(app: web.Application) -> None:
    await app[TARGET_CONTEXT].hub.close_all()


async def apply_faults(ctx: TargetContext, method: str) -> None:
    """Delay and maybe fail this call as the active faults say.

    Raises:
        TargetApiError: the injected error (429 with Retry-After, 500 or 503).
    """
    decision = ctx.faults.decide(method)
    if decision.latency_seconds > 0:
        ctx.metrics.fault_injected(method, "latency")
        await asyncio.sleep(decision.latency_seconds)
    if decision.error_status is not None:
        ctx.metrics.fault_injected(method, "error")
        headers = {"Retry-After": str(decision.retry_after_seconds)} if decision.error_status == 429 else None
        raise TargetApiError(_INJECTED[decision.error_status], http_status=decision.error_status, headers=headers)


def authenticate(ctx: TargetContext, token: str | None, http_status: int = 200) -> Identity:
    """The identity of a user token.

    Raises:
        TargetApiError: ``invalid_auth`` when the token is missing, malformed or not ours.
    """
    identity = ctx.tokens.verify(token) if token else None
    if identity is None:
        raise TargetApiError(ErrorCode.INVALID_AUTH, http_status=http_status)
    return identity


async def _answer(ctx: TargetContext, request: web.Request, method: str) -> dict[str, Any]:
    if method not in API_METHODS:
        raise TargetApiError(ErrorCode.UNKNOWN_METHOD, http_status=404)
    await apply_faults(ctx, method)
    if method == MINT_METHOD:
        if not ctx.is_admin(request_token(request)):
            raise TargetApiError(ErrorCode.NOT_AUTHED, http_status=401)
        return mint_tokens(ctx, await read_args(request))
    identity = authenticate(ctx, request_token(request))
    call = Call(identity, await read_args(request), f"{request.scheme}://{request.host}/")
    return METHODS[method](ctx, call)


async def api_endpoint(request: web.Request) -> web.Response:
    """``/api/<method>``: every answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": code}``."""
    ctx = request.app[TARGET_CONTEXT]
    method = request.match_info["method"]
    started = time.perf_counter()
    error: ErrorCode | None = None
    try:
        response = json_response({"ok": True, **await _answer(ctx, request, method)})
    except TargetApiError as exc:
        error = exc.error
        response = json_response(exc.body(), status=exc.http_status, headers=exc.headers)
    ctx.metrics.observe_request(method, status_label(response.status, error), time.perf_counter() - started)
    return response


async def websocket_endpoint(request: web.Request) -> web.StreamResponse:
    """``/ws``: the bearer token in ``Authorization`` or ``?token=``; ``hello`` first, then channel events."""
    ctx = request.app[TARGET_CONTEXT]
    started = time.perf_counter()
    ws = web.WebSocketResponse(
        heartbeat=ctx.config.websocket_heartbeat_seconds,
        autoping=True,
        compress=False,
        max_msg_size=MAX_INCOMING_MESSAGE_BYTES,
    )
    try:
        await apply_faults(ctx, WEBSOCKET_METHOD)
        identity = authenticate(ctx, request_token(request, allow_query=True), http_status=401)
        if not ws.can_prepare(request).ok:
            raise TargetApiError(ErrorCode.UPGRADE_REQUIRED, "connect with a websocket client", http_status=426)
    except TargetApiError as exc:
        elapsed = time.perf_counter() - started
        ctx.metrics.observe_request(WEBSOCKET_METHOD, status_label(exc.http_status, exc.error), elapsed)
        return json_response(exc.body(), status=exc.http_status, headers=exc.headers)
    await ws.prepare(request)
    ctx.metrics.observe_request(WEBSOCKET_METHOD, "101", time.perf_counter() - started)
    transport = request.transport
    if transport is not None:
        await ctx.hub.serve(Connection(identity, ws, transport))
    return ws


async def metrics_endpoint(request: web.Request) -> web.Response:
    body = request.app[TARGET_CONTEXT].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz_endpoint(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})
