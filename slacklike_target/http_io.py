"""Reading call arguments from aiohttp requests and writing JSON answers, Slack style."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from slacklike_target.wire import Args, ErrorCode, TargetApiError, bearer_token, invalid_arguments

_FORM = "application/x-www-form-urlencoded"


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def request_token(request: web.Request, allow_query: bool = False) -> str | None:
    """The bearer token of ``Authorization``, else (websockets only) of ``?token=``."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None and allow_query:
        token = request.query.get("token") or None
    return token


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (an empty body is ``{}``).

    Raises:
        TargetApiError: ``invalid_arguments`` for malformed JSON or a non-object,
            ``request_too_large`` (413) past the size limit.
    """
    return _json_object(await _read(request))


async def _read(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TargetApiError(ErrorCode.REQUEST_TOO_LARGE, http_status=413) from None


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid_arguments("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid_arguments("the body must be a JSON object")
    return body


async def read_args(request: web.Request) -> Args:
    """A Web API call's arguments: query parameters, overridden by a JSON or urlencoded body (as Slack takes them).

    A body that starts with ``{`` is JSON whatever its content type (``curl -d`` sends JSON as a form).
    """
    args: Args = dict(request.query)
    if not request.body_exists:
        return args
    raw = await _read(request)
    if request.content_type == _FORM and not raw.lstrip().startswith(b"{"):
        try:
            args.update(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise invalid_arguments("the form body is not UTF-8") from None
        return args
    args.update(_json_object(raw))
    return args
