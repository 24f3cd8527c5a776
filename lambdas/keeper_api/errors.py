"""The one place where errors become HTTP responses: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

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


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response[str]:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    headers = {"WWW-Authenticate": 'Bearer realm="koipond"'} if status == 401 else None
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


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
