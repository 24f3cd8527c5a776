"""Wire models of API keys: the creation request (with a school key's binding) and the answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from koipond.api.fields import NAME_PATTERN, Request
from koipond.models.auth import (
    SCHOOL_ID_PATTERN,
    SCHOOL_PREFIX_PATTERN,
    ApiKey,
    Principal,
    Role,
    school_binding_problems,
)
from koipond.models.behavior import CrossFieldError


class CreateKeyRequest(Request):
    name: str = Field(pattern=NAME_PATTERN, description="Who or what uses the key; recorded as the actor.")
    role: Role
    school_id: str | None = Field(
        default=None,
        pattern=SCHOOL_ID_PATTERN,
        description="Role school only (this or school_prefix): the one School the key may poll as.",
    )
    school_prefix: str | None = Field(
        default=None,
        pattern=SCHOOL_PREFIX_PATTERN,
        description="Role school only (this or school_id): the key may poll as every School whose id "
        "starts with this, e.g. eks-prod- for a fleet.",
    )

    @model_validator(mode="after")
    def _binding_fits_role(self) -> CreateKeyRequest:
        problems = school_binding_problems(self.role, self.school_id, self.school_prefix)
        if problems:
            raise CrossFieldError(problems)
        return self


class KeyOut(BaseModel):
    id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    school_id: str | None = Field(default=None, description="A school key's one School.")
    school_prefix: str | None = Field(default=None, description="A school key's fleet: School ids with this start.")

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(**key.model_dump(exclude={"secret_hash"}))


class WhoAmIOut(BaseModel):
    key_id: str
    name: str = Field(description="What history records as the actor of this key's changes.")
    role: Role = Field(
        description="viewer reads (and may pull the emergency stop); operator steers; admin also manages keys."
    )

    @classmethod
    def of(cls, principal: Principal) -> WhoAmIOut:
        return cls(key_id=principal.key_id, name=principal.name, role=principal.role)


class IssuedKeyOut(KeyOut):
    token: str = Field(description="Shown once; only its hash is stored.")


class KeyListOut(BaseModel):
    keys: list[KeyOut]
