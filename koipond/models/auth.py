"""API keys, roles, the School a school key is bound to, and the principal a request acts as."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

# A School id is also a path segment (POST /v1/schools/{school_id}/poll); a prefix is the start of one.
SCHOOL_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
SCHOOL_PREFIX_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


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


def school_binding_problems(role: Role, school_id: str | None, school_prefix: str | None) -> list[tuple[str, str]]:
    """(field, problem) pairs: a school key names one School or one prefix; other keys name neither."""
    if role is Role.SCHOOL:
        if school_id is None and school_prefix is None:
            return [
                (
                    "school_id",
                    "a school key must be bound to its Schools: give school_id (one School) "
                    "or school_prefix (a fleet, e.g. eks-prod-)",
                )
            ]
        if school_id is not None and school_prefix is not None:
            return [("school_prefix", "give school_id or school_prefix, not both")]
        return []
    given = (("school_id", school_id), ("school_prefix", school_prefix))
    return [
        (field, f"only school keys are bound to Schools; a {role.value} key takes no {field}")
        for field, value in given
        if value is not None
    ]


class ApiKey(BaseModel):
    """A stored API key; only a hash of its secret is kept.

    A school key may act as the School ``school_id``, or as every School whose id starts with
    ``school_prefix``. Keys stored before keys were bound hold neither, and may act as no School.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    school_id: str | None = None
    school_prefix: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class Principal(BaseModel):
    """Who a request acts as; ``name`` is what history records as the actor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str
    name: str
    role: Role
    school_id: str | None = None
    school_prefix: str | None = None

    def acts_as_school(self, school_id: str) -> bool:
        """Whether this principal may poll as ``school_id``: its own School, one of its fleet, or any for admins."""
        if self.role is Role.ADMIN:
            return True
        if self.role is not Role.SCHOOL:
            return False
        if self.school_id is not None:
            return school_id == self.school_id
        return self.school_prefix is not None and school_id.startswith(self.school_prefix)
