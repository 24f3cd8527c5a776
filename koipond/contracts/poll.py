"""The poll contract (``POST /v1/schools/{id}/poll``), one set of models for the Keeper, its client and Schools."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from koipond.models.schools import PollAnswer, TestAssignment

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
    """What the School must run for one test: everything it needs, so it never reads the table."""

    model_config = _ANSWER

    test_id: str
    test_name: str
    ranges: list[PollRange]
    koi: int = Field(ge=0)
    behavior: BehaviorRef
    target: str
    workspace: str
    tags: list[str]

    @classmethod
    def from_domain(cls, assignment: TestAssignment) -> PollAssignment:
        return cls(
            test_id=assignment.test_id,
            test_name=assignment.test_name,
            ranges=[PollRange(start=r.start, end=r.end) for r in assignment.ranges],
            koi=assignment.koi,
            behavior=BehaviorRef(name=assignment.behavior_name, version=assignment.behavior_version),
            target=assignment.target,
            workspace=assignment.workspace,
            tags=list(assignment.tags),
        )


class PollResponse(BaseModel):
    """The Keeper's answer: the School's complete desired state, and the global stop flag."""

    model_config = _ANSWER

    school_id: str
    stop_all: bool
    stop_reason: str | None
    poll_interval_seconds: float = Field(gt=0)
    allocation_version: int = Field(ge=0)
    assignments: list[PollAssignment]

    @classmethod
    def from_domain(cls, answer: PollAnswer) -> PollResponse:
        """The wire form of the poll service's answer."""
        return cls(
            school_id=answer.school_id,
            stop_all=answer.stop_all,
            stop_reason=answer.stop_reason,
            poll_interval_seconds=answer.poll_interval_seconds,
            allocation_version=answer.allocation_version,
            assignments=[PollAssignment.from_domain(a) for a in answer.assignments],
        )


def describe_problems(error: ValidationError) -> str:
    """One line naming every invalid field, e.g. ``assignments.0.ranges: Field required``.

    Input values are left out: an answer can be large, and a log line should name the problem.
    """
    problems = (f"{'.'.join(str(part) for part in e['loc']) or '(body)'}: {e['msg']}" for e in error.errors())
    return "; ".join(problems)
