"""Schools: the long-running processes that run koi, as the Keeper sees them from their polls."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from koipond.models.allocation import KoiRange


class School(BaseModel):
    """A School's last heartbeat: what it said at its last poll."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    capacity: int = Field(ge=0)
    running: dict[str, int] = Field(default_factory=dict, description="koi running per test id")
    last_poll_at: datetime
    first_seen_at: datetime


class TestAssignment(BaseModel):
    """What one School must run for one test: everything it needs, so it never reads the table."""

    __test__ = False  # not a pytest class, despite its name
    model_config = ConfigDict(frozen=True, extra="forbid")

    test_id: str
    test_name: str
    ranges: tuple[KoiRange, ...]
    koi: int
    behavior_name: str
    behavior_version: int | None
    target: str
    workspace: str
    tags: tuple[str, ...] = ()


class PollAnswer(BaseModel):
    """The Keeper's answer to a poll: the School's desired state, complete and self-contained."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    school_id: str
    stop_all: bool
    stop_reason: str | None = None
    poll_interval_seconds: float
    allocation_version: int
    assignments: tuple[TestAssignment, ...]
