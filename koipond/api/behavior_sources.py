"""Wire models of behavior sources: the body of ``PUT /v1/behaviors/{name}/source``, and a source as shown."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from koipond.models import behavior_source as domain
from koipond.models.durations import format_duration


class BehaviorSource(domain.BehaviorSource):
    # The request body is the source itself: the same schema and checks as the domain model.
    __doc__ = domain.BehaviorSource.__doc__


class BehaviorSourceOut(BaseModel):
    """A behavior's source, when it runs next and what its last run found."""

    name: str
    source: dict[str, Any] = Field(description="As set; durations written as 1d, 7d.")
    description: str = Field(description="s3://bucket/key, or the Prometheus cluster and query.")
    next_due_at: datetime
    running_until: datetime | None = Field(description="A release tick is re-deriving it (its claim lapses then).")
    last_run_at: datetime | None
    last_outcome: domain.SourceOutcome | None = Field(description="published, unchanged or failed.")
    last_message: str | None = Field(description="What changed, why nothing was published, or why it failed.")
    last_published_version: int | None
    consecutive_failures: int
    updated_at: datetime
    updated_by: str
    version: int

    @classmethod
    def of(cls, state: domain.BehaviorSourceState) -> BehaviorSourceOut:
        source = state.source.model_dump(mode="json", exclude_none=True)
        for name in ("window", "schedule"):
            if name in source:
                source[name] = format_duration(source[name])
        return cls(
            name=state.name,
            source=source,
            description=state.source.describe(),
            next_due_at=state.next_due_at,
            running_until=state.claimed_until,
            last_run_at=state.last_run_at,
            last_outcome=state.last_outcome,
            last_message=state.last_message,
            last_published_version=state.last_published_version,
            consecutive_failures=state.consecutive_failures,
            updated_at=state.updated_at,
            updated_by=state.updated_by,
            version=state.version,
        )


class BehaviorSourceListOut(BaseModel):
    sources: list[BehaviorSourceOut] = Field(description="By behavior name.")
