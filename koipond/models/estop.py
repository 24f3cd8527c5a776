"""The global emergency stop: one switch that halts all load."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class EmergencyStop(BaseModel):
    """Current state of the emergency stop; its changes are history events on subject ``estop``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    active: bool = False
    reason: str | None = None
    activated_by: str | None = None
    activated_at: datetime | None = None
    lifted_by: str | None = None
    lifted_at: datetime | None = None
    lift_reason: str | None = None
    version: int = Field(default=0, ge=0)
