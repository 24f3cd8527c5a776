"""API keys and bearer-token authentication; only SHA-256 hashes of secrets are stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from koipond.errors import AuthenticationError, ConflictError, PermissionDeniedError
from koipond.ids import new_key_id
from koipond.models.auth import ApiKey, Principal, Role, role_allows
from koipond.models.history import KEYS_SUBJECT, EventKind
from koipond.ports import Clock
from koipond.services.history import new_event
from koipond.store.keys import DynamoApiKeyRepository

_KEY_ID = re.compile(r"[a-z0-9-]{1,64}")
TOKEN_PREFIX = "kp_"  # noqa: S105 - a format marker, not a secret
BOOTSTRAP_NAME = "bootstrap admin"


def hash_secret(secret: str) -> str:
    # Secrets are 192 random bits, so a fast hash is enough; no password stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def bootstrap_key_id(token: str) -> str:
    """The bootstrap key's id derives from its token, so a new admin token makes a new key."""
    return f"bootstrap-{hash_secret(token)[:12]}"


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its token; the token is shown once and never stored."""

    key: ApiKey
    token: str


class AuthService:
    def __init__(self, keys: DynamoApiKeyRepository, clock: Clock) -> None:
        self._keys = keys
        self._clock = clock

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal behind an ``Authorization: Bearer <token>`` header.

        Raises:
            AuthenticationError: header missing or malformed, token unknown or revoked.
        """
        token = _bearer_token(authorization)
        key_id, secret = _split_token(token)
        key = self._keys.find(key_id)
        if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
            raise AuthenticationError("unknown API token")
        if key.revoked:
            raise AuthenticationError("this API token was revoked")
        return Principal(key_id=key.id, name=key.name, role=key.role)

    def ensure_bootstrap_admin(self, token: str) -> None:
        """Store the bootstrap admin key unless it exists (a revoked one stays revoked)."""
        key = ApiKey(
            id=bootstrap_key_id(token),
            name=BOOTSTRAP_NAME,
            role=Role.ADMIN,
            secret_hash=hash_secret(token),
            created_at=self._clock.now(),
            created_by="bootstrap",
        )
        try:
            self._keys.create(key, None)
        except ConflictError:
            return

    def create_key(self, name: str, role: Role, actor: str) -> IssuedKey:
        key_id = new_key_id()
        secret = secrets.token_hex(24)
        key = ApiKey(
            id=key_id,
            name=name,
            role=role,
            secret_hash=hash_secret(secret),
            created_at=self._clock.now(),
            created_by=actor,
        )
        event = new_event(
            self._clock, KEYS_SUBJECT, EventKind.KEY_CREATED, actor, None, {"key_id": key_id, "role": role}
        )
        self._keys.create(key, event)
        return IssuedKey(key=key, token=f"{TOKEN_PREFIX}{key_id}_{secret}")

    def list_keys(self) -> list[ApiKey]:
        return sorted(self._keys.list_all(), key=lambda k: k.created_at)

    def revoke_key(self, key_id: str, actor: str, reason: str | None) -> ApiKey:
        """Revoke a key (idempotent).

        Raises:
            NotFoundError: no key with this id.
        """
        key = self._keys.get(key_id)
        if key.revoked:
            return key
        revoked = key.model_copy(update={"revoked_at": self._clock.now(), "revoked_by": actor})
        event = new_event(self._clock, KEYS_SUBJECT, EventKind.KEY_REVOKED, actor, reason, {"key_id": key_id})
        self._keys.save(revoked, event)
        return revoked


def require_role(principal: Principal, needed: Role) -> None:
    """Raises PermissionDeniedError unless ``principal`` may act with role ``needed``."""
    if not role_allows(principal.role, needed):
        raise PermissionDeniedError(
            f"this action needs the {needed.value} role; your key {principal.key_id!r} has {principal.role.value}",
            {"needed": needed.value, "held": principal.role.value},
        )


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("malformed Authorization header; send 'Authorization: Bearer <token>'")
    return token.strip()


def _split_token(token: str) -> tuple[str, str]:
    """(key id, secret) of an issued token; any other string may be the bootstrap admin token."""
    if token.startswith(TOKEN_PREFIX) and token.count("_") == 2:
        key_id, _, secret = token.removeprefix(TOKEN_PREFIX).partition("_")
        if not _KEY_ID.fullmatch(key_id):
            raise AuthenticationError("unknown API token")  # never a table key of arbitrary size
        return key_id, secret
    return bootstrap_key_id(token), token
