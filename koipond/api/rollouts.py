"""Wire models of rollouts: plans in, rollouts with their stages and transitions out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from koipond.api.fields import ID_PATTERN, MAX_KOI, DurationSeconds, Request
from koipond.api.history import EventOut
from koipond.models.durations import format_duration
from koipond.models.history import HistoryEvent
from koipond.models.rollouts import Rollout, RolloutStatus
from koipond.models.text import Reason


class StageIn(Request):
    koi: int = Field(strict=True, ge=1, le=MAX_KOI, description="koi to run in this stage.")
    hold: DurationSeconds = Field(
        description="How long the stage holds with the guard healthy: '7d', '90s' or seconds."
    )


class CreateRolloutRequest(Request):
    test_id: str = Field(pattern=ID_PATTERN, description="The running test to ramp.")
    stages: list[StageIn] = Field(min_length=1, max_length=100, description="1 to 20 stages, koi increasing.")
    reason: Reason | None = None


class RolloutActionRequest(Request):
    reason: Reason = Field(min_length=1, description="Why: recorded in the rollout's history.")


class StageOut(BaseModel):
    number: int = Field(description="1-based.")
    koi: int
    hold_seconds: int
    hold: str
    state: Literal["done", "current", "next"]


class RolloutOut(BaseModel):
    id: str
    test_id: str
    status: RolloutStatus
    current_stage: int = Field(description="1-based number of the stage running now (or last run).")
    stages: list[StageOut]
    stage_started_at: datetime = Field(description="When the current stage's hold started.")
    hold_ends_at: datetime | None = Field(description="Earliest the current stage can be held; null unless holding.")
    paused_reason: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int
    transitions: list[EventOut] | None = Field(default=None, description="History, oldest first (single rollout).")

    @classmethod
    def of(cls, rollout: Rollout, transitions: list[HistoryEvent] | None = None) -> RolloutOut:
        done_through = rollout.current + (1 if rollout.status is RolloutStatus.COMPLETED else 0)
        stages = [
            StageOut(
                number=i + 1,
                koi=s.koi,
                hold_seconds=s.hold_seconds,
                hold=format_duration(s.hold_seconds),
                state="done" if i < done_through else "current" if i == rollout.current else "next",
            )
            for i, s in enumerate(rollout.stages)
        ]
        return cls(
            **rollout.model_dump(
                include={"id", "test_id", "status", "stage_started_at", "paused_reason", "created_at", "created_by"}
            ),
            updated_at=rollout.updated_at,
            version=rollout.version,
            current_stage=rollout.current + 1,
            stages=stages,
            hold_ends_at=rollout.hold_ends_at if rollout.status is RolloutStatus.HOLDING else None,
            transitions=None if transitions is None else [EventOut.of(e) for e in transitions],
        )


class RolloutListOut(BaseModel):
    rollouts: list[RolloutOut]
