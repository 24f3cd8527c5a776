"""The one error tree of koipond; HTTP status mapping lives in the Keeper API, nowhere else.

KoipondError
├── BadRequestError            the caller's input is malformed or absurd        (400/422)
│   └── BehaviorInvalidError   a behavior document fails its schema            (422)
├── AuthenticationError        no token, unknown or revoked token              (401)
├── PermissionDeniedError      the token's role is too low for the action      (403)
├── NotFoundError              an id that does not exist                       (404)
├── ConflictError              state forbids the action                        (409)
│   ├── StaleVersionError      the caller's version is not the stored one      (409)
│   ├── EmergencyStopActiveError  new load refused while the stop is pulled    (409)
│   └── TooManyRunningTestsError  the running-test cap is reached              (409)
├── StoreError                 the store failed (throttled, unreachable)       (503)
│   └── TransactionConflictError  writes kept racing another transaction; retrying is safe (503)
├── TokenMintError             a token provider could not mint a batch (token worker: retried)
├── PrometheusQueryError       Prometheus could not be read (deploy verdicts: retried next tick)
├── SourceUnreadableError      a behavior source's S3 object cannot be read (re-derivation: retried next schedule)
└── ConfigurationError         settings are missing or contradictory           (500)

LostLeaseError                 the allocator's lease or an assignment moved under it (never reaches a caller)
"""

from __future__ import annotations

from typing import Any


class KoipondError(Exception):
    """Root of every error koipond raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class BadRequestError(KoipondError):
    code = "bad_request"


class BehaviorInvalidError(BadRequestError):
    code = "behavior_invalid"


class UsageInvalidError(BadRequestError):
    """A usage export (or its stated window) cannot be read; ``details["problems"]`` names lines and columns."""

    code = "usage_invalid"


class AuthenticationError(KoipondError):
    code = "unauthenticated"


class PermissionDeniedError(KoipondError):
    code = "forbidden"


class NotFoundError(KoipondError):
    code = "not_found"


class ConflictError(KoipondError):
    code = "conflict"


class StaleVersionError(ConflictError):
    code = "stale_version"


class EmergencyStopActiveError(ConflictError):
    code = "emergency_stop_active"


class TooManyRunningTestsError(ConflictError):
    code = "too_many_running_tests"


class StoreError(KoipondError):
    code = "store_unavailable"


class TransactionConflictError(StoreError):
    """Another transaction was writing the same item at the same moment; nothing was written, retrying is safe."""


class TokenMintError(KoipondError):
    """A token provider failed; the message names the cause and never holds a token."""

    code = "token_mint_failed"


class PrometheusQueryError(KoipondError):
    """Prometheus was down, refused a query, or is not configured; the message says which."""

    code = "prometheus_unavailable"


class SourceUnreadableError(KoipondError):
    """A behavior source's usage export cannot be read: missing, refused, too large, not text."""

    code = "source_unreadable"


class ConfigurationError(KoipondError):
    code = "configuration_error"


class LostLeaseError(Exception):
    """This allocator's lease was taken over, or an assignment changed under it: stop and reload.

    Not a KoipondError: it never reaches an API caller; the allocator's own loop handles it.
    """
