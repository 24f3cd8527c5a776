"""API keys and bearer-token authentication; only hashes of secrets are stored.

Error classes of this module extend the tree of ``koipond.errors``:
PermissionDeniedError ← WrongSchoolError ← UnboundSchoolKeyError, and ConflictError ← LastAdminKeyError.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

from koipond.clock import Clock
from koipond.errors import AuthenticationError, BadRequestError, ConflictError, PermissionDeniedError
from koipond.ids import new_key_id
from koipond.models.auth import ApiKey, Principal, Role, role_allows, school_binding_problems
from koipond.models.history import KEYS_SUBJECT, EventKind
from koipond.services.history import new_event
from koipond.services.ports.keys import ApiKeyRepository

_KEY_ID = re.compile(r"[a-z0-9-]{1,64}")
TOKEN_PREFIX = "kp_"  # noqa: S105 - a format marker, not a secret
BOOTSTRAP_NAME = "bootstrap admin"
# The bootstrap token may be chosen by a person, so its key id and stored hash come from scrypt, not a
# fast hash: an offline guess costs 16 MiB and ~50 ms of one core (scrypt's "interactive" parameters),
# and the fixed salt names koipond so no table precomputed for another system applies. Any change here
# gives every bootstrap token a new key id, so these stay fixed.
BOOTSTRAP_SALT = b"koipond bootstrap admin key v1"
BOOTSTRAP_SCRYPT_N, BOOTSTRAP_SCRYPT_R, BOOTSTRAP_SCRYPT_P = 2**14, 8, 1


class WrongSchoolError(PermissionDeniedError):
    code = "wrong_school"


class UnboundSchoolKeyError(WrongSchoolError):
    code = "school_key_unbound"


class LastAdminKeyError(ConflictError):
    code = "last_admin_key"


def hash_secret(secret: str) -> str:
    # Issued secrets are 192 random bits, so a fast hash is enough; no password stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


@lru_cache(maxsize=16)
def _bootstrap_digest(token: str) -> bytes:
    # Cached: a process derives it for its configured token(s) once; requests never run scrypt.
    return hashlib.scrypt(
        token.encode(),
        salt=BOOTSTRAP_SALT,
        n=BOOTSTRAP_SCRYPT_N,
        r=BOOTSTRAP_SCRYPT_R,
        p=BOOTSTRAP_SCRYPT_P,
        dklen=32,
    )


def bootstrap_key_id(token: str) -> str:
    """The bootstrap key's id derives from its token, so a new admin token makes a new key."""
    return f"bootstrap-{_bootstrap_digest(token)[:6].hex()}"


def bootstrap_secret_hash(token: str) -> str:
    """What the bootstrap key stores in place of its token."""
    return _bootstrap_digest(token).hex()


def legacy_bootstrap_key_id(token: str) -> str:
    """The id koipond gave a bootstrap key before it used scrypt (an unsalted SHA-256 prefix)."""
    return f"bootstrap-{hash_secret(token)[:12]}"


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its token; the token is shown once and never stored."""

    key: ApiKey
    token: str


class AuthService:
    def __init__(self, keys: ApiKeyRepository, clock: Clock) -> None:
        self._keys = keys
        self._clock = clock
        # SHA-256 of each bootstrap token this process was given -> (key id, stored hash). A token that
        # is neither issued nor one of these is refused without running scrypt, which would otherwise
        # let anyone spend 16 MiB and 50 ms of the Keeper per request.
        self._bootstrap: dict[str, tuple[str, str]] = {}

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal behind an ``Authorization: Bearer <token>`` header.

        Raises:
            AuthenticationError: header missing or malformed, token unknown or revoked.
        """
        token = _bearer_token(authorization)
        key_id, expected_hash = self._key_id_and_hash(token)
        key = self._keys.find(key_id)
        if key is None or not hmac.compare_digest(key.secret_hash, expected_hash):
            raise AuthenticationError("unknown API token")
        if key.revoked:
            raise AuthenticationError("this API token was revoked")
        return Principal(
            key_id=key.id, name=key.name, role=key.role, school_id=key.school_id, school_prefix=key.school_prefix
        )

    def _key_id_and_hash(self, token: str) -> tuple[str, str]:
        issued = _split_token(token)
        if issued is not None:
            key_id, secret = issued
            return key_id, hash_secret(secret)
        bootstrap = self._bootstrap.get(hash_secret(token))
        if bootstrap is None:
            raise AuthenticationError("unknown API token")
        return bootstrap

    def ensure_bootstrap_admin(self, token: str) -> None:
        """Store the bootstrap admin key unless it exists (a revoked one stays revoked)."""
        key_id, secret_hash = bootstrap_key_id(token), bootstrap_secret_hash(token)
        self._bootstrap[hash_secret(token)] = (key_id, secret_hash)
        legacy = self._keys.find(legacy_bootstrap_key_id(token))
        if legacy is not None and not hmac.compare_digest(legacy.secret_hash, hash_secret(token)):
            legacy = None  # an id collision with another token's key, not this token's old key
        key = ApiKey(
            id=key_id,
            name=BOOTSTRAP_NAME,
            role=Role.ADMIN,
            secret_hash=secret_hash,
            created_at=self._clock.now(),
            created_by="bootstrap",
            # An upgrade must not bring back a bootstrap key revoked under its old id.
            revoked_at=legacy.revoked_at if legacy else None,
            revoked_by=legacy.revoked_by if legacy else None,
        )
        with contextlib.suppress(ConflictError):  # it exists: as it is, revoked or not
            self._keys.create(key, None)
        if legacy is not None:
            # Its id and hash are fast hashes of the token: keep neither once the new key holds its state.
            self._keys.delete(legacy.id)

    def create_key(
        self, name: str, role: Role, actor: str, *, school_id: str | None = None, school_prefix: str | None = None
    ) -> IssuedKey:
        """Create a key; a school key is bound to one School (``school_id``) or a fleet (``school_prefix``).

        Raises:
            BadRequestError: a school key without a binding, or another key with one.
        """
        problems = school_binding_problems(role, school_id, school_prefix)
        if problems:
            raise BadRequestError("; ".join(f"{field}: {problem}" for field, problem in problems))
        key_id = new_key_id()
        secret = secrets.token_hex(24)
        key = ApiKey(
            id=key_id,
            name=name,
            role=role,
            secret_hash=hash_secret(secret),
            created_at=self._clock.now(),
            created_by=actor,
            school_id=school_id,
            school_prefix=school_prefix,
        )
        binding = {k: v for k, v in (("school_id", school_id), ("school_prefix", school_prefix)) if v is not None}
        event = new_event(
            self._clock, KEYS_SUBJECT, EventKind.KEY_CREATED, actor, None, {"key_id": key_id, "role": role, **binding}
        )
        self._keys.create(key, event)
        return IssuedKey(key=key, token=f"{TOKEN_PREFIX}{key_id}_{secret}")

    def list_keys(self) -> list[ApiKey]:
        return sorted(self._keys.list_all(), key=lambda k: k.created_at)

    def revoke_key(self, key_id: str, actor: str, reason: str | None) -> ApiKey:
        """Revoke a key (idempotent); the last admin key that is not revoked stays.

        Raises:
            NotFoundError: no key with this id.
            LastAdminKeyError: it is the only admin key left; nobody could manage keys after it.
        """
        key = self._keys.get(key_id)
        if key.revoked:
            return key
        other_admin = None
        if key.role is Role.ADMIN:
            others = [k for k in self._keys.list_all() if k.role is Role.ADMIN and not k.revoked and k.id != key.id]
            if not others:
                raise LastAdminKeyError(
                    f"{key_id!r} is the last admin key that is not revoked; create another admin key first "
                    "(koipond keys create --role admin), then revoke this one",
                    {"key_id": key_id},
                )
            other_admin = others[0].id
        revoked = key.model_copy(update={"revoked_at": self._clock.now(), "revoked_by": actor})
        event = new_event(self._clock, KEYS_SUBJECT, EventKind.KEY_REVOKED, actor, reason, {"key_id": key_id})
        self._keys.save(revoked, event, while_active=other_admin)
        return revoked


def require_role(principal: Principal, needed: Role) -> None:
    """Raises PermissionDeniedError unless ``principal`` may act with role ``needed``."""
    if not role_allows(principal.role, needed):
        raise PermissionDeniedError(
            f"this action needs the {needed.value} role; your key {principal.key_id!r} has {principal.role.value}",
            {"needed": needed.value, "held": principal.role.value},
        )


def require_school(principal: Principal, school_id: str) -> None:
    """Raises WrongSchoolError unless ``principal`` may act as the School ``school_id``."""
    if principal.acts_as_school(school_id):
        return
    if principal.role is Role.SCHOOL and principal.school_id is None and principal.school_prefix is None:
        raise UnboundSchoolKeyError(
            f"the school key {principal.key_id!r} is bound to no School (it predates bound keys); issue a "
            "new one with koipond keys create --role school --school-id ID (or --school-prefix PREFIX) "
            "and revoke this one",
            {"school_id": school_id},
        )
    bound = (
        f"the School {principal.school_id!r}"
        if principal.school_id is not None
        else f"Schools whose id starts with {principal.school_prefix!r}"
    )
    raise WrongSchoolError(
        f"the key {principal.key_id!r} may act as {bound}, not as {school_id!r}",
        {"school_id": school_id, "key_school_id": principal.school_id, "key_school_prefix": principal.school_prefix},
    )


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("malformed Authorization header; send 'Authorization: Bearer <token>'")
    return token.strip()


def _split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of an issued token; None for any other string (it may be a bootstrap token)."""
    if token.startswith(TOKEN_PREFIX) and token.count("_") == 2:
        key_id, _, secret = token.removeprefix(TOKEN_PREFIX).partition("_")
        if not _KEY_ID.fullmatch(key_id):
            raise AuthenticationError("unknown API token")  # never a table key of arbitrary size
        return key_id, secret
    return None
