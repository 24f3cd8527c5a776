"""API keys, roles and the principal a request acts as."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Role(StrEnum):
    """viewer < operator < admin for people; ``school`` may only poll."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    SCHOOL = "school"


_PERSON_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def role_allows(held: Role, needed: Role) -> bool:
    """Whether a key of role ``held`` may do what needs ``needed``.

    Schools are not people: a school key can do school things only, and no person's key is needed
    for a School (admins may still poll, which the local demo uses to simulate Schools).
    """
    if needed is Role.SCHOOL:
        return held in (Role.SCHOOL, Role.ADMIN)
    if held is Role.SCHOOL:
        return False
    return _PERSON_RANK[held] >= _PERSON_RANK[needed]


class ApiKey(BaseModel):
    """A stored API key; only the SHA-256 of its secret is kept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class Principal(BaseModel):
    """Who a request acts as; ``name`` is what history records as the actor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str
    name: str
    role: Role
