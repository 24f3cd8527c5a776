"""Wire models of load tests: start, change and act on a test; the test as the Keeper shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, field_validator

from koipond.api.fields import MAX_KOI, NAME_PATTERN, Request
from koipond.errors import BadRequestError
from koipond.models.tests import BehaviorRef, LoadTest, LoadTestStatus, ResumePolicy
from koipond.models.text import Reason, Tag

WORKSPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class BehaviorRefIn(Request):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    version: int | Literal["latest"] | None = Field(
        default=None,
        description="A version to pin; omitted: the latest at start, pinned; 'latest': follow every new version.",
    )

    @field_validator("version")
    @classmethod
    def _positive(cls, version: int | str | None) -> int | str | None:
        if isinstance(version, int) and version < 1:
            raise ValueError(f"a version is 1 or more, got {version}")
        return version

    def domain(self) -> BehaviorRef:
        """The domain reference: ``version: latest`` follows the behavior (starting on its latest version)."""
        if self.version == "latest":
            return BehaviorRef(name=self.name, follow_latest=True)
        return BehaviorRef(name=self.name, version=self.version)


class CreateTestRequest(Request):
    name: str = Field(pattern=NAME_PATTERN, description="Human-readable name, shown in lists and history.")
    target: AnyHttpUrl = Field(description="Base URL of the service under test, e.g. http://127.0.0.1:8800.")
    behavior: str | BehaviorRefIn = Field(
        description="Behavior name (its latest version, pinned), or {name, version}: a version number to pin, "
        "or 'latest' to follow each new version (koi move onto it in batches)."
    )

    def behavior_ref(self) -> BehaviorRef:
        return BehaviorRef(name=self.behavior) if isinstance(self.behavior, str) else self.behavior.domain()

    workspace: str = Field(pattern=WORKSPACE_PATTERN, description="Workspace (tenant) of the koi's users.")
    koi: int = Field(strict=True, ge=1, le=MAX_KOI, description="Number of simulated clients; koi i acts as user i.")
    shed_percent: float = Field(default=0, ge=0, le=100, description="Share of koi to hold back (partial shutdown).")
    duration_seconds: int | None = Field(
        default=None,
        ge=60,
        le=366 * 86400,
        description="Omit for a continuous test; else it completes after this.",
    )
    tags: list[Tag] = Field(
        default_factory=list, max_length=20, description="Up to 20 tags of 1 to 64 characters, one line each."
    )
    resume: Literal["manual", "auto"] = Field(
        default="manual",
        description="After the guard stops this continuous test: wait for a person (manual), or resume it "
        "automatically once cool_down_seconds have passed and the guard is healthy (auto).",
    )
    cool_down_seconds: int | None = Field(
        default=None, strict=True, ge=1, le=7 * 86400, description="With resume=auto: wait this long (default 600)."
    )

    def resume_policy(self) -> ResumePolicy:
        if self.resume == "manual" and self.cool_down_seconds is not None:
            raise BadRequestError(
                "cool_down_seconds applies to resume=auto only", {"cool_down_seconds": self.cool_down_seconds}
            )
        cool_down = {} if self.cool_down_seconds is None else {"cool_down_seconds": self.cool_down_seconds}
        return ResumePolicy(mode=self.resume, **cool_down)


class UpdateTestRequest(Request):
    koi: int | None = Field(default=None, strict=True, ge=0, le=MAX_KOI, description="New koi count (scale).")
    shed_percent: float | None = Field(default=None, ge=0, le=100, description="Partial shutdown percentage.")
    reason: Reason | None = None
    version: int | None = Field(default=None, ge=1, description="Fail with 409 unless the test is at this version.")


class LoadTestActionRequest(Request):
    reason: Reason | None = None
    version: int | None = Field(default=None, ge=1)


class LoadTestOut(BaseModel):
    id: str
    name: str
    target: str
    behavior: dict[str, Any]
    workspace: str
    koi: int
    shed_percent: float
    active_koi: int = Field(description="koi wanted now: koi minus the shed share; 0 unless running.")
    assigned_koi: int = Field(description="koi currently assigned to Schools.")
    koi_per_school: dict[str, int]
    status: LoadTestStatus
    continuous: bool
    duration_seconds: int | None
    ends_at: datetime | None
    tags: list[str]
    created_at: datetime
    created_by: str
    updated_at: datetime
    stopped_reason: str | None
    resume_policy: ResumePolicy
    version: int

    @classmethod
    def of(cls, test: LoadTest, koi_per_school: dict[str, int]) -> LoadTestOut:
        return cls(
            **test.model_dump(include=set(cls.model_fields)),  # the stored fields, shown as stored
            active_koi=test.active_koi,
            continuous=test.continuous,
            ends_at=test.ends_at,
            assigned_koi=sum(koi_per_school.values()),
            koi_per_school=koi_per_school,
        )


class LoadTestListOut(BaseModel):
    tests: list[LoadTestOut]
