"""Admin endpoints: token minting for the token pipeline, and fault injection (``/admin/faults``)."""

from __future__ import annotations

from typing import Any, Self

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from slacklike_target.context import TARGET_CONTEXT, TargetContext
from slacklike_target.faults import FAULT_ROUTES, FaultSpec
from slacklike_target.http_io import json_response, read_json_object, request_token
from slacklike_target.tokens import MAX_USERS, WORKSPACE_PATTERN
from slacklike_target.wire import WEBSOCKET_METHOD, Args, ErrorCode, TargetApiError, invalid_arguments

MAX_TOKENS_PER_MINT = 10_000


class MintRequest(BaseModel):
    """``admin.tokens.mint``: a half-open index range ``[start, end)`` or a list of ``users`` indexes."""

    model_config = ConfigDict(extra="forbid")

    workspace: str = Field(pattern=WORKSPACE_PATTERN.pattern)
    start: int | None = Field(default=None, ge=0, le=MAX_USERS)
    end: int | None = Field(default=None, ge=0, le=MAX_USERS)
    users: list[int] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        ranged = self.start is not None or self.end is not None
        if ranged == (self.users is not None):
            raise ValueError("give either start and end, or users")
        if ranged and (self.start is None or self.end is None or self.start > self.end):
            raise ValueError("start and end must both be given, with start <= end")
        if self.users is not None and any(not 0 <= index < MAX_USERS for index in self.users):
            raise ValueError(f"user indexes must be in [0, {MAX_USERS})")
        return self

    def indexes(self) -> range | list[int]:
        if self.users is not None:
            return sorted(set(self.users))
        return range(self.start or 0, self.end or 0)


def describe(error: ValidationError) -> str:
    """Every problem of a validation error, each with its path, on one line."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors())


def mint_tokens(ctx: TargetContext, args: Args) -> dict[str, Any]:
    """Tokens for the requested users of one workspace.

    Raises:
        TargetApiError: ``invalid_arguments``, or ``too_many_users`` past :data:`MAX_TOKENS_PER_MINT`.
    """
    try:
        request = MintRequest.model_validate(args)
    except ValidationError as exc:
        raise invalid_arguments(describe(exc)) from None
    indexes = request.indexes()
    if len(indexes) > MAX_TOKENS_PER_MINT:
        raise TargetApiError(ErrorCode.TOO_MANY_USERS, f"at most {MAX_TOKENS_PER_MINT} tokens per call")
    return {"tokens": {str(index): ctx.tokens.mint(request.workspace, index) for index in indexes}}


def _not_authed() -> web.Response:
    return json_response(TargetApiError(ErrorCode.NOT_AUTHED).body(), status=401)


def _invalid_fault(detail: str) -> web.Response:
    return json_response(TargetApiError(ErrorCode.INVALID_FAULT, detail).body(), status=400)


async def put_fault(request: web.Request) -> web.Response:
    """Set one route's fault; ``reset_websockets`` closes every open websocket now, once."""
    ctx = request.app[TARGET_CONTEXT]
    if not ctx.is_admin(request_token(request)):
        return _not_authed()
    try:
        spec = FaultSpec.model_validate(await read_json_object(request))
    except TargetApiError as exc:
        return _invalid_fault(exc.detail or exc.error.value)
    except ValidationError as exc:
        return _invalid_fault(describe(exc))
    stored = ctx.faults.put(spec)
    reset = ctx.hub.reset_all() if spec.reset_websockets else 0
    if reset:
        ctx.metrics.fault_injected(WEBSOCKET_METHOD, "websocket_reset", reset)
    active = any(fault.route == stored.route for fault in ctx.faults.active())
    return json_response({"ok": True, "fault": _fault_body(stored), "active": active, "websockets_reset": reset})


async def list_faults(request: web.Request) -> web.Response:
    ctx = request.app[TARGET_CONTEXT]
    if not ctx.is_admin(request_token(request)):
        return _not_authed()
    return json_response({"ok": True, "faults": [_fault_body(fault) for fault in ctx.faults.active()]})


async def clear_faults(request: web.Request) -> web.Response:
    """Clear every fault, or only ``?route=``'s."""
    ctx = request.app[TARGET_CONTEXT]
    if not ctx.is_admin(request_token(request)):
        return _not_authed()
    route = request.query.get("route")
    if route is not None and route not in FAULT_ROUTES:
        return _invalid_fault(f"unknown route {route!r}; routes: {', '.join(FAULT_ROUTES)}")
    return json_response({"ok": True, "cleared": ctx.faults.clear(route)})


def _fault_body(fault: FaultSpec) -> dict[str, Any]:
    return fault.model_dump(exclude={"reset_websockets"})
