"""Rollouts: a plan of stages (koi, hold) that ramps one load test, and the transitions it went through."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from koipond.models.durations import format_duration

MAX_STAGES = 20
MIN_HOLD_SECONDS = 1
MAX_HOLD_SECONDS = 90 * 86400


class RolloutStatus(StrEnum):
    """``holding``: the current stage runs and its hold counts down; ``paused``: stuck until a person resumes it;
    ``completed``: the last stage was held; ``aborted``: given up (by a person, or the test is gone)."""

    HOLDING = "holding"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABORTED = "aborted"

    @property
    def finished(self) -> bool:
        return self in {RolloutStatus.COMPLETED, RolloutStatus.ABORTED}


class Stage(BaseModel):
    """Run ``koi`` koi, and hold them for ``hold_seconds`` with the guard healthy before the next stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    koi: int = Field(ge=1)
    hold_seconds: int = Field(ge=MIN_HOLD_SECONDS, le=MAX_HOLD_SECONDS)

    def describe(self) -> str:
        return f"{self.koi:,} koi for {format_duration(self.hold_seconds)}"


class Rollout(BaseModel):
    """One rollout as the Keeper holds it; ``current`` is the 0-based index of the stage running now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    test_id: str
    stages: tuple[Stage, ...] = Field(min_length=1, max_length=MAX_STAGES)
    current: int = Field(ge=0)
    status: RolloutStatus = RolloutStatus.HOLDING
    stage_started_at: datetime
    paused_reason: str | None = None
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int = Field(default=1, ge=1)

    @property
    def stage(self) -> Stage:
        return self.stages[self.current]

    @property
    def on_last_stage(self) -> bool:
        return self.current == len(self.stages) - 1

    @property
    def hold_ends_at(self) -> datetime:
        return self.stage_started_at + timedelta(seconds=self.stage.hold_seconds)

    def stage_label(self, index: int | None = None) -> str:
        """``2/4``: people count stages from 1."""
        return f"{(self.current if index is None else index) + 1}/{len(self.stages)}"


class TransitionKind(StrEnum):
    STARTED = "started"  # stage 1 began (the rollout was created)
    ADVANCED = "advanced"  # the current stage was held (or advanced by hand); the next one began
    COMPLETED = "completed"  # the last stage was held
    PAUSED = "paused"  # guard trip, emergency stop, test stopped, or by hand
    RESUMED = "resumed"  # by hand only: the current stage's hold starts over
    ABORTED = "aborted"  # by hand, or the test completed or disappeared


class Transition(BaseModel):
    """One change of a rollout's state, with who and why; ``koi`` is set when the test must be scaled to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TransitionKind
    actor: str
    reason: str = Field(min_length=1)
    at: datetime
    from_stage: int | None = None
    to_stage: int
    koi: int | None = None
