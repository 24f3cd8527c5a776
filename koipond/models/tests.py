"""Load tests: what to run (behavior, target, koi) and its lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LoadTestStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    COMPLETED = "completed"


class BehaviorRef(BaseModel):
    """A behavior by name; ``version`` None means the latest version at the time of use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: int | None = Field(default=None, ge=1)
    follow_latest: bool = False
    """Run the latest version, moving koi onto each new one in batches; ``version`` is the one it started on."""


class ResumePolicy(BaseModel):
    """After the guard stops a continuous test: ``manual`` waits for a person; ``auto`` resumes it once
    ``cool_down_seconds`` have passed since the stop and the guard is healthy (see koipond.services.continuous)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["manual", "auto"] = "manual"
    cool_down_seconds: int = Field(default=600, ge=1, le=7 * 86400)


class LoadTest(BaseModel):
    """One load test as the Keeper holds it; ``version`` guards every update (optimistic locking)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    target: str
    behavior: BehaviorRef
    workspace: str
    koi: int = Field(ge=0)
    shed_percent: float = Field(default=0.0, ge=0, le=100)
    status: LoadTestStatus = LoadTestStatus.RUNNING
    duration_seconds: int | None = Field(default=None, ge=1)
    tags: tuple[str, ...] = ()
    created_at: datetime
    created_by: str
    updated_at: datetime
    stopped_reason: str | None = None
    resume_policy: ResumePolicy = Field(default_factory=ResumePolicy)
    version: int = Field(default=1, ge=1)

    @property
    def continuous(self) -> bool:
        return self.duration_seconds is None

    @property
    def active_koi(self) -> int:
        """Koi wanted now: all of them minus the shed share (rounded so shedding never adds koi)."""
        if self.status is not LoadTestStatus.RUNNING:
            return 0
        shed = int(self.koi * self.shed_percent / 100 + 0.5)
        return max(0, self.koi - shed)

    @property
    def ends_at(self) -> datetime | None:
        if self.duration_seconds is None:
            return None
        return self.created_at + timedelta(seconds=self.duration_seconds)

    def has_elapsed(self, now: datetime) -> bool:
        ends_at = self.ends_at
        return ends_at is not None and now >= ends_at
