"""Wire models of history: one event as the Keeper shows it, and a page of a subject's events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from koipond.models.history import HistoryEvent


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
