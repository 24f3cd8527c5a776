"""The poll contract, one set of models for the Keeper, its client and Schools.

``POST /v1/schools/{id}/poll``: the School reports and learns what to run. It names the assignment it
already runs (``known_version``); when that is still current the answer leaves the assignments out, so a
steady poll costs the same whatever the School holds. Assignments carry koi ranges only: what a test
runs (behavior, target, workspace) never changes after it starts, and a School reads it once per test
with ``POST /v1/schools/{id}/test-specs``; except the behavior version of a test that follows its
behavior's latest version, whose spec says so and how often to read it again (``refresh_seconds``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from koipond.models.schools import LoadTestAssignment, PollAnswer
from koipond.models.tests import LoadTest
from koipond.services.behavior_moves import BehaviorChange, FollowedBehavior

MAX_SPECS_PER_REQUEST = 100  # one BatchGetItem

# Answers are read by Schools of other versions: unknown fields pass (a newer Keeper may add some),
# missing or renamed ones fail. Field names and order are the JSON Schools have always read.
_ANSWER = ConfigDict(frozen=True, extra="ignore")


class PollRequest(BaseModel):
    """A School's report: how many koi it will run, and how many it runs now per test."""

    model_config = ConfigDict(extra="forbid")  # a typo in a School's report is an error, not ignored

    capacity: int = Field(default=5000, strict=True, ge=0, le=1_000_000, description="Most koi this School will run.")
    running: dict[str, Annotated[int, Field(strict=True, ge=0)]] = Field(
        default_factory=dict, max_length=1000, description="koi running now, per test id."
    )
    known_version: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        description="allocation_version of the assignments the School runs; the answer omits them if still current.",
    )


class PollRange(BaseModel):
    """Half-open range ``[start, end)`` of koi indexes; koi ``i`` acts as user ``i``."""

    model_config = _ANSWER

    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _non_empty(self) -> PollRange:
        if self.end <= self.start:
            raise ValueError(f"empty koi range [{self.start}, {self.end})")
        return self


class BehaviorRef(BaseModel):
    """The behavior a test's koi run; ``version`` None means the latest one."""

    model_config = _ANSWER

    name: str
    version: int | None


class PollAssignment(BaseModel):
    """Which koi of one test the School must run (what the test is: :class:`LoadTestSpec`)."""

    model_config = _ANSWER

    test_id: str
    ranges: list[PollRange]
    koi: int = Field(ge=0)

    @classmethod
    def from_domain(cls, assignment: LoadTestAssignment) -> PollAssignment:
        return cls.model_validate(assignment, from_attributes=True)


class PollResponse(BaseModel):
    """The Keeper's answer: the School's complete desired state, and the global stop flag.

    ``assignments`` is null when ``allocation_version`` is the ``known_version`` the School sent: keep
    running what it runs. On ``stop_all`` it is empty: run nothing.
    """

    model_config = _ANSWER

    school_id: str
    stop_all: bool
    stop_reason: str | None
    poll_interval_seconds: float = Field(gt=0)
    allocation_version: int = Field(ge=0)
    assignments: list[PollAssignment] | None

    @classmethod
    def from_domain(cls, answer: PollAnswer) -> PollResponse:
        """The wire form of the poll service's answer (field for field, assignments and their ranges too)."""
        return cls.model_validate(answer, from_attributes=True)


class LoadTestSpecsRequest(BaseModel):
    """The tests a School was assigned and does not know yet."""

    model_config = ConfigDict(extra="forbid")

    test_ids: list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]] = Field(
        min_length=1, max_length=MAX_SPECS_PER_REQUEST, description="Test ids, at most 100 a request."
    )


class BehaviorChangeOut(BaseModel):
    """A new version a following test's koi are moving onto, a batch per interval.

    A School decides each koi's version with ``koipond.services.behavior_moves.version_of_koi``.
    """

    model_config = _ANSWER

    from_version: int = Field(ge=1)
    to_version: int = Field(ge=1)
    started_at: datetime
    batch_fraction: float = Field(gt=0, le=1, description="Share of the koi moved per interval.")
    interval_seconds: float = Field(gt=0)

    @classmethod
    def from_domain(cls, change: BehaviorChange) -> BehaviorChangeOut:
        return cls.model_validate(change, from_attributes=True)

    def domain(self) -> BehaviorChange:
        return BehaviorChange(**self.model_dump())


class LoadTestSpec(BaseModel):
    """What a test's koi run. Fixed when the test starts, so a School may keep it as long as it likes, except
    for a test that follows its behavior's latest version: its spec names the latest version (and the change
    under way) and a School reads it again every ``refresh_seconds``."""

    model_config = _ANSWER

    test_id: str
    test_name: str
    behavior: BehaviorRef
    target: str
    workspace: str
    tags: list[str]
    follow_latest: bool = False
    behavior_change: BehaviorChangeOut | None = Field(
        default=None, description="While koi move onto the version named in behavior: from which one, and how fast."
    )
    refresh_seconds: float | None = Field(
        default=None, description="Read this spec again at least this often (tests that follow the latest version)."
    )

    @classmethod
    def from_domain(cls, test: LoadTest, followed: FollowedBehavior | None = None) -> LoadTestSpec:
        """The spec of ``test``; ``followed`` is its behavior's latest version when the test follows it."""
        version = followed.version if followed is not None else test.behavior.version
        change = followed.change if followed is not None else None
        return cls(
            test_id=test.id,
            test_name=test.name,
            behavior=BehaviorRef(name=test.behavior.name, version=version),
            target=test.target,
            workspace=test.workspace,
            tags=list(test.tags),
            follow_latest=test.behavior.follow_latest,
            behavior_change=None if change is None else BehaviorChangeOut.from_domain(change),
            refresh_seconds=followed.refresh_seconds if followed is not None and test.behavior.follow_latest else None,
        )


class LoadTestSpecsResponse(BaseModel):
    """The specs found, and the ids of tests that do not exist (never silently left out)."""

    model_config = _ANSWER

    specs: list[LoadTestSpec]
    missing: list[str]


def describe_problems(error: ValidationError) -> str:
    """One line naming every invalid field, e.g. ``assignments.0.ranges: Field required``.

    Input values are left out: an answer can be large, and a log line should name the problem.
    """
    problems = (f"{'.'.join(str(part) for part in e['loc']) or '(body)'}: {e['msg']}" for e in error.errors())
    return "; ".join(problems)
