"""The one place where errors become HTTP responses: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from koipond.api.errors import ErrorOut
from koipond.errors import (
    AuthenticationError,
    BadRequestError,
    BehaviorInvalidError,
    ConfigurationError,
    ConflictError,
    KoipondError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
)
from koipond.models.behavior import CrossFieldError

logger = Logger(service="keeper-api")

# Order matters: the first class an error is an instance of decides its status.
_STATUS_BY_ERROR: list[tuple[type[KoipondError], int]] = [
    (BehaviorInvalidError, 422),
    (BadRequestError, 400),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (StoreError, 503),
    (ConfigurationError, 500),
]


# An outage of DynamoDB or SQS is retried by the caller: a School polls again anyway, a person or a
# deploy tool waits about one poll interval rather than hammering a Keeper whose store is down.
RETRY_AFTER_SECONDS = 5


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response[str]:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    headers: dict[str, str] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="koipond"'}
    elif status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


# Every answer of the API: nothing a browser or proxy may keep, and no content-type guessing. The
# console's static files set their own (short) caching, which these do not replace.
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, JSON nested too deep, or a bad request",
    401: "No token, or an unknown or revoked one",
    403: "The key's role, or the School it is bound to, may not do this",
    404: "Not found",
    409: "The current state forbids this",
    413: "The body is larger than this route accepts",
    415: "A body that is not application/json",
    422: "The request does not match its schema (details.problems: each a path and a problem)",
    503: "A dependency (DynamoDB, SQS, Prometheus) is unavailable; retry after Retry-After seconds",
}
# What any route behind a token may answer: the checks before routing, its role, validation, the store.
TOKEN_ROUTE_ERRORS = (400, 401, 403, 413, 415, 422, 503)
# Routes without a token still refuse a body they cannot take (422: Powertools lists it for every
# route; documented here, it at least names the shape the Keeper answers with).
PUBLIC_ROUTE_ERRORS = (400, 413, 415, 422)


def documented(*errors: int, ok: Mapping[int, str] | None = None, public: bool = False) -> dict[int, OpenAPIResponse]:
    """A route's ``responses=``: its success answers, then every error it may give, each in the error shape.

    Args:
        errors: the route's own error statuses (e.g. 404, 409), beside the common ones.
        ok: success statuses and their descriptions; default 200.
        public: the route needs no token (so no 401 or 403).
    """
    answers: dict[int, OpenAPIResponse] = {
        status: {"description": text} for status, text in (ok or {200: "Successful Response"}).items()
    }
    for status in sorted({*(PUBLIC_ROUTE_ERRORS if public else TOKEN_ROUTE_ERRORS), *errors}):
        answers[status] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {content_types.APPLICATION_JSON: {"model": ErrorOut}},
        }
    return answers


class RequestRefused(Exception):
    """A request refused before routing (size, token, content type, nesting), as its error answer."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.response = error_response(status, code, message, details)

    @classmethod
    def of(cls, error: KoipondError) -> RequestRefused:
        return cls(status_of(error), error.code, error.message, error.details)


def lambda_result(response: Response[str]) -> dict[str, Any]:
    """An answer made before routing, in the shape the resolver returns to API Gateway (HTTP API v2)."""
    headers = {name: str(value) for name, value in response.headers.items()}  # Content-Type among them
    return {"statusCode": response.status_code, "body": response.body, "isBase64Encoded": False, "headers": headers}


def with_api_headers(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with :data:`API_HEADERS` added where the answer did not set them itself."""
    headers = result.get("headers") or {}
    present = {name.lower() for name in headers}
    result["headers"] = {**headers, **{k: v for k, v in API_HEADERS.items() if k.lower() not in present}}
    return result


def status_of(error: KoipondError) -> int:
    return next((status for cls, status in _STATUS_BY_ERROR if isinstance(error, cls)), 500)


def validation_details(errors: Any) -> list[dict[str, str]]:
    """Powertools/pydantic error entries as ``{"path", "problem"}`` with the path inside the body."""
    problems: list[dict[str, str]] = []
    for entry in errors:
        loc = [str(part) for part in entry.get("loc", ())]
        where = loc[0] if loc else "body"
        inner = [p for p in loc[1:] if p not in {"body"}]
        path = ".".join(inner) if inner else where
        if where in {"query", "path", "header"}:
            path = f"{where}:{path}"
        cross_field = (entry.get("ctx") or {}).get("error")
        if isinstance(cross_field, CrossFieldError):
            # One behavior validator reports several problems, each at its own path below ``loc``.
            problems.extend(
                {"path": ".".join(p for p in (*inner, sub) if p) or path, "problem": text}
                for sub, text in cross_field.problems
            )
            continue
        problems.append({"path": path, "problem": str(entry.get("msg", "invalid"))})
    return problems


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    """Map every error to the JSON error shape; a client's mistake is never a 500."""

    @app.exception_handler(KoipondError)
    def handle_koipond(error: KoipondError) -> Response[str]:
        status = status_of(error)
        if status >= 500:
            logger.error("request failed", extra={"code": error.code, "error": error.message})
        return error_response(status, error.code, error.message, error.details)

    @app.exception_handler(RequestValidationError)
    def handle_validation(error: RequestValidationError) -> Response[str]:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        problems = validation_details(errors)
        summary = "; ".join(f"{p['path']}: {p['problem']}" for p in problems[:5])
        return error_response(422, "validation_failed", f"invalid request: {summary}", {"problems": problems})

    @app.exception_handler(RequestUnsupportedContentType)
    def handle_content_type(_: RequestUnsupportedContentType) -> Response[str]:
        content_type = app.current_event.headers.get("content-type", "")
        return error_response(415, "unsupported_media_type", f"send the body as application/json, not {content_type!r}")

    @app.exception_handler(UnicodeDecodeError)
    def handle_undecodable_body(_: UnicodeDecodeError) -> Response[str]:
        # Powertools decodes the (base64) body as UTF-8 before parsing it; JSON must be UTF-8 (RFC 8259).
        return error_response(400, "malformed_json", "the request body is not valid JSON: it is not UTF-8 text")

    @app.not_found
    def handle_not_found(_: RouteNotFoundError) -> Response[str]:
        method, path = app.current_event.http_method, app.current_event.path
        return error_response(404, "route_not_found", f"no route {method} {path}; see /openapi.json")

    @app.exception_handler(Exception)
    def handle_unexpected(error: Exception) -> Response[str]:
        logger.exception("unexpected error")
        return error_response(500, "internal_error", "the Keeper failed unexpectedly; the error is logged")
