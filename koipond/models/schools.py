"""Schools: the long-running processes that run koi, as the Keeper sees them from their polls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from koipond.models.allocation import KoiRange


class School(BaseModel):
    """A School's last heartbeat (what it said at its last poll) and what the allocator last gave it.

    Totals, not per-test maps: the heartbeat is written by every poll, so its size must not grow with
    the tests a School runs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    capacity: int = Field(ge=0)
    running_koi: int = Field(default=0, ge=0, description="koi running on the School at its last poll")
    running_tests: int = Field(default=0, ge=0, description="tests with koi on the School at its last poll")
    running: dict[str, int] = Field(default_factory=dict, description="koi running per test, as last reported")
    last_poll_at: datetime
    first_seen_at: datetime
    assigned_koi: int = Field(default=0, ge=0, description="koi in the School's assignment, as last written")
    assignment_version: int | None = Field(default=None, description="stamp of that assignment; None: none yet")


@dataclass(frozen=True)
class PreviousHeartbeat:
    """What a poll's heartbeat write replaced: what the poll tells the allocator and the School, at no read cost."""

    school: School | None  # as it was before this poll; None before its first poll
    running_changed: bool  # its koi per test differ from the ones last reported (by their digest)


class LoadTestAssignment(BaseModel):
    """Which koi of one test a School runs. What the test is (behavior, target, workspace) never changes
    after it starts, so a School fetches it once per test (``LoadTestSpec``) and the assignment stays small."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    test_id: str
    ranges: tuple[KoiRange, ...]
    koi: int


class PollAnswer(BaseModel):
    """The Keeper's answer to a poll: the School's desired state.

    ``assignments`` is None when the School already runs ``allocation_version`` (it said so in its
    poll): the answer then costs no read of the assignment.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    school_id: str
    stop_all: bool
    stop_reason: str | None = None
    poll_interval_seconds: float
    allocation_version: int
    assignments: tuple[LoadTestAssignment, ...] | None
