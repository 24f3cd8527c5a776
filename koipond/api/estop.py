"""Wire models of the emergency stop: pulling and lifting it, and its state with its history."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from koipond.api.fields import Request
from koipond.api.history import EventOut
from koipond.models.estop import EmergencyStop
from koipond.models.history import HistoryEvent
from koipond.models.text import Reason


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
