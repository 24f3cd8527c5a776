"""The target's Web API vocabulary: method names, error codes and argument parsing, Slack style."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from koipond.errors import KoipondError

# The Web API methods the target serves; anything else under /api/ is ``unknown_method``.
API_METHODS = (
    "auth.test",
    "chat.postMessage",
    "conversations.history",
    "conversations.join",
    "reactions.add",
    "users.info",
    "admin.tokens.mint",
)
# What a fault may target and a metric may name: the API methods plus the websocket upgrade.
WEBSOCKET_METHOD = "websocket"
KNOWN_METHODS = (*API_METHODS, WEBSOCKET_METHOD)

Args = dict[str, Any]


class ErrorCode(StrEnum):
    """Every ``error`` the target answers with: a closed set, so metric labels stay bounded."""

    INVALID_AUTH = "invalid_auth"
    NOT_AUTHED = "not_authed"
    INVALID_ARGUMENTS = "invalid_arguments"
    UNKNOWN_METHOD = "unknown_method"
    CHANNEL_NOT_FOUND = "channel_not_found"
    MESSAGE_NOT_FOUND = "message_not_found"
    ALREADY_REACTED = "already_reacted"
    TOO_MANY_EMOJI = "too_many_emoji"
    INVALID_NAME = "invalid_name"
    MSG_TOO_LONG = "msg_too_long"
    USER_NOT_FOUND = "user_not_found"
    TOO_MANY_USERS = "too_many_users"
    REQUEST_TOO_LARGE = "request_too_large"
    UPGRADE_REQUIRED = "upgrade_required"
    INVALID_FAULT = "invalid_fault"
    RATELIMITED = "ratelimited"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"


# Errors only fault injection produces; metrics label them by HTTP status (429, 500, 503).
INJECTED_ERRORS = frozenset({ErrorCode.RATELIMITED, ErrorCode.INTERNAL_ERROR, ErrorCode.SERVICE_UNAVAILABLE})


class TargetApiError(KoipondError):
    """A Web API call failed in a way the caller can act on; answered as ``{"ok": false, "error": code}``."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str | None = None,
        http_status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or code.value)
        self.error = code
        self.detail = detail
        self.http_status = http_status
        self.headers = headers

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"ok": False, "error": self.error.value}
        if self.detail:
            answer["detail"] = self.detail
        return answer


def invalid_arguments(detail: str) -> TargetApiError:
    return TargetApiError(ErrorCode.INVALID_ARGUMENTS, detail)


def required_str(args: Args, name: str, max_length: int = 1000) -> str:
    """A non-empty string argument.

    Raises:
        TargetApiError: ``invalid_arguments`` when it is missing, empty, not a string or too long.
    """
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_arguments(f"{name} is required and must be a non-empty string")
    if len(value) > max_length:
        raise invalid_arguments(f"{name} is longer than {max_length} characters")
    return value


def optional_str(args: Args, name: str, max_length: int = 1000) -> str | None:
    if args.get(name) in (None, ""):
        return None
    return required_str(args, name, max_length)


def optional_float(args: Args, name: str) -> float | None:
    """A finite number, given as a JSON number or a numeric string (templated bodies carry strings).

    Raises:
        TargetApiError: ``invalid_arguments`` when present but not a finite number.
    """
    value = args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid_arguments(f"{name} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise invalid_arguments(f"{name} must be a number") from None
    if not math.isfinite(number):
        raise invalid_arguments(f"{name} must be a finite number")
    return number


def clamped_int(args: Args, name: str, default: int, low: int, high: int) -> int:
    """An integer argument clamped into ``[low, high]`` (Slack clamps ``limit`` rather than failing).

    Raises:
        TargetApiError: ``invalid_arguments`` when present but not an integer.
    """
    value = args.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid_arguments(f"{name} must be an integer")
    try:
        number = int(value)
    except ValueError:
        raise invalid_arguments(f"{name} must be an integer") from None
    return max(low, min(high, number))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
