"""What every request passes before routing: its body's size, its token, its content type, its nesting.

Powertools validates a route's body before the route's dependencies run, so a token checked only
there would come after parsing and validating whatever an anonymous caller sent. Here the cheap
checks run first, in this order: size (413, even without a token: measuring is not parsing), token
(401), content type (415), JSON nesting (400). The role a route needs (403) stays with the route.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from koipond.composition import get_keeper
from koipond.errors import KoipondError
from koipond.models.auth import Principal
from lambdas.keeper_api.errors import RequestRefused

# The only requests served without a token: liveness, the API's description, and reads of the console's
# static files under /ui (the page holds no token; its scripts send one to /v1; its router serves only
# allowlisted files, 404 for any other /ui path). Everything else, unknown routes too, needs a token.
PUBLIC = re.compile(r"GET /healthz|GET /openapi\.json|(?:GET|HEAD) /ui(?:/.*)?")

KIB = 1024
DEFAULT_BODY_LIMIT = 64 * KIB
# Routes whose legitimate bodies may be larger. A behavior (64 actions with bodies, 32 formations of up
# to 100 steps) is stored as one DynamoDB item, whose 400 KB limit bounds it anyway; a poll reports at
# most 1,000 running tests, about 80 bytes each with the longest ids.
BODY_LIMITS = (
    (re.compile(r"PUT /v1/behaviors/[^/]+"), 256 * KIB),
    (re.compile(r"POST /v1/schools/[^/]+/poll"), 128 * KIB),
)
# Real bodies nest a handful of levels (a behavior's action body is the deepest); recursion in the
# parser and validators is what an attacker's 10,000 levels would exercise.
MAX_JSON_DEPTH = 32
# A JSON string, or an unterminated one running to the end: a match always succeeds where it starts,
# so the scan stays linear (a pattern that could fail would retry at every later quote).
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)


def screen(event: Mapping[str, Any]) -> Principal | None:
    """The principal of a request that may go on to routing; None for a public one.

    Raises:
        RequestRefused: the body is too large (413), the token is missing, unknown or revoked (401),
            the body is not JSON (415), nested too deep or not UTF-8 (400), or the store failed (503).
    """
    route = f"{_method(event)} {event.get('rawPath') or '/'}"
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    body = _body_bytes(event)
    limit = next((size for pattern, size in BODY_LIMITS if pattern.fullmatch(route)), DEFAULT_BODY_LIMIT)
    if len(body) > limit:
        raise RequestRefused(
            413, "payload_too_large", f"the body is {len(body)} bytes; {route} takes at most {limit}", {"limit": limit}
        )
    principal = None if PUBLIC.fullmatch(route) else _authenticate(headers.get("authorization"))
    if body:
        _check_json(body, headers.get("content-type", ""))
    return principal


def _method(event: Mapping[str, Any]) -> str:
    return str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()


def _body_bytes(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise RequestRefused(400, "malformed_body", "the body is not valid base64") from exc


def _authenticate(authorization: str | None) -> Principal:
    try:
        return get_keeper().auth.authenticate(authorization)
    except KoipondError as error:  # 401, or 503 when the key cannot be read
        raise RequestRefused.of(error) from error


def _check_json(body: bytes, content_type: str) -> None:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = media_type or "no content type"
        raise RequestRefused(415, "unsupported_media_type", f"send the body as application/json, not {shown!r}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestRefused(400, "malformed_json", "the request body is not valid JSON: it is not UTF-8 text") from exc
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise RequestRefused(
            400,
            "json_too_deep",
            f"the request body nests {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted",
            {"max_depth": MAX_JSON_DEPTH},
        )


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text``, counted without parsing it (strings are skipped)."""
    depth = deepest = 0
    for bracket in re.findall(r"[\[\]{}]", _JSON_STRING.sub("", text)):
        depth = depth + 1 if bracket in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest
