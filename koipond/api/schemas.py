"""Wire models: the JSON the Keeper API accepts and returns (mapped explicitly to domain models)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field

from koipond.errors import BadRequestError
from koipond.models.durations import parse_duration
from koipond.models.estop import EmergencyStop
from koipond.models.guard import Evaluation, GuardQuery
from koipond.models.history import HistoryEvent
from koipond.models.schools import School
from koipond.models.tests import LoadTest, LoadTestStatus, ResumePolicy
from koipond.models.text import Reason, Tag

MAX_KOI = 10_000_000
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,99}$"
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


def _duration_seconds(value: object) -> object:
    """``"7d"``, ``"90s"`` or ``"1h30m"`` as seconds; whole numbers pass through as seconds."""
    if isinstance(value, str):
        return parse_duration(value)  # its ValueError names the bad text
    if isinstance(value, bool) or not isinstance(value, int):
        # ValueError, not TypeError: pydantic turns only ValueError into a 422 naming the field.
        raise ValueError(f"expected a duration such as '15m' or '7d', or whole seconds; got {value!r}")
    return value


# One way to write a duration in every request body (rollout holds, deploy windows); ranges are the
# field's own business, checked where the field is.
DurationSeconds = Annotated[int, BeforeValidator(_duration_seconds)]


class Request(BaseModel):
    """Every request body rejects unknown fields, so typos are errors rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class BehaviorRefIn(Request):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    version: int | None = Field(default=None, ge=1)


class CreateTestRequest(Request):
    name: str = Field(pattern=NAME_PATTERN, description="Human-readable name, shown in lists and history.")
    target: AnyHttpUrl = Field(description="Base URL of the service under test, e.g. http://127.0.0.1:8800.")
    behavior: str | BehaviorRefIn = Field(description="Behavior name (latest version) or {name, version}.")
    workspace: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="Workspace (tenant) of the koi's users."
    )
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
            **test.model_dump(include={"id", "name", "target", "workspace", "koi", "shed_percent", "status"}),
            behavior=test.behavior.model_dump(),
            active_koi=test.active_koi,
            assigned_koi=sum(koi_per_school.values()),
            koi_per_school=koi_per_school,
            continuous=test.continuous,
            duration_seconds=test.duration_seconds,
            ends_at=test.ends_at,
            tags=list(test.tags),
            created_at=test.created_at,
            created_by=test.created_by,
            updated_at=test.updated_at,
            stopped_reason=test.stopped_reason,
            resume_policy=test.resume_policy,
            version=test.version,
        )


class LoadTestListOut(BaseModel):
    tests: list[LoadTestOut]


class EventOut(BaseModel):
    id: str
    subject: str
    kind: str
    actor: str
    reason: str | None
    at: datetime
    details: dict[str, Any]

    @classmethod
    def of(cls, event: HistoryEvent) -> EventOut:
        return cls(**event.model_dump(mode="json"))


class EventListOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null when no event is left."
    )


class SchoolOut(BaseModel):
    id: str
    capacity: int
    live: bool
    assigned_koi: int = Field(description="koi in the School's assignment, as the allocator last wrote it.")
    running_koi: int = Field(description="koi the School said it runs at its last poll.")
    running_tests: int = Field(description="tests with koi on the School at its last poll.")
    running: dict[str, int] = Field(description="koi the School runs per test id, as it last reported them.")
    last_poll_at: datetime
    first_seen_at: datetime

    @classmethod
    def of(cls, school: School, live: bool) -> SchoolOut:
        return cls(**school.model_dump(exclude={"assignment_version"}), live=live)


class SchoolListOut(BaseModel):
    schools: list[SchoolOut]


class EmergencyStopRequest(Request):
    reason: Reason = Field(min_length=1, description="Why: shown in the banner and history.")


class LiftEmergencyStopRequest(Request):
    reason: Reason | None = None


class EmergencyStopOut(BaseModel):
    active: bool
    reason: str | None
    activated_by: str | None
    activated_at: datetime | None
    lifted_by: str | None
    lifted_at: datetime | None
    lift_reason: str | None
    changed: bool = Field(description="False when the call found the stop already in the asked state.")
    history: list[EventOut]

    @classmethod
    def of(cls, state: EmergencyStop, history: list[HistoryEvent], changed: bool) -> EmergencyStopOut:
        return cls(
            **state.model_dump(exclude={"version"}),
            changed=changed,
            history=[EventOut.of(e) for e in history],
        )


class BehaviorOut(BaseModel):
    name: str
    version: int
    created_at: datetime
    created_by: str
    document: dict[str, Any]


class BehaviorListOut(BaseModel):
    behaviors: list[BehaviorOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    error: ErrorBody


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class GuardQueryOut(BaseModel):
    query: GuardQuery
    last: Evaluation | None = Field(description="The last evaluation: value, outcome and time; null before the first.")


class GuardOut(BaseModel):
    clusters: list[str] = Field(description="Configured Prometheus endpoints queries may name.")
    queries: list[GuardQueryOut]
