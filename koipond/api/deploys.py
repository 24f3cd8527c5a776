"""Wire models of the deploy gate: deploy markers, their verdicts, and services' SLI settings."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from koipond.api.fields import DurationSeconds, Request
from koipond.api.history import EventOut
from koipond.models import deploys as domain
from koipond.models.deploys import (
    BUILD_PATTERN,
    MAX_BASELINE_SECONDS,
    MAX_SOAK_SECONDS,
    MIN_WINDOW_SECONDS,
    SERVICE_PATTERN,
    Deploy,
    DeployStatus,
    ServiceSlis,
    SliKind,
    SliRow,
    SliRule,
    VerdictOutcome,
)

# Re-exported: clients format rows as the verdict's reason does, from this wire module.
from koipond.models.history import HistoryEvent

DEPLOY_ID_PATTERN = r"^dp-[0-9a-f]{16}$"
WindowValue = float | Literal["+Inf", "-Inf"] | None


class SliSettings(domain.SliSettings):
    # A service's SLI settings are written and read as the deploy gate keeps them; named and described as
    # before so the OpenAPI document keeps its component.
    __doc__ = domain.SliSettings.__doc__

    @classmethod
    def of(cls, settings: domain.SliSettings) -> SliSettings:
        return cls.model_validate(settings.model_dump())


def _within(seconds: int, low: int, high: int) -> int:
    if not low <= seconds <= high:
        raise ValueError(f"must be between {low}s and {high}s, got {seconds}s")
    return seconds


class CreateDeployRequest(Request):
    service: str = Field(pattern=SERVICE_PATTERN, description="The deployed service, e.g. chat-api.")
    build: str = Field(pattern=BUILD_PATTERN, description="The deployed build: version, commit or image tag.")
    at: AwareDatetime | None = Field(
        default=None,
        description="When the deploy happened (with a time zone); default now. Send it so retries are idempotent.",
    )
    soak: DurationSeconds | None = Field(
        default=None,
        description=f"Soak window after the deploy: seconds or a duration such as 15m "
        f"({MIN_WINDOW_SECONDS}s to {MAX_SOAK_SECONDS // 3600}h; default 15m).",
    )
    baseline: DurationSeconds | None = Field(
        default=None,
        description=f"Baseline window before the deploy, as soak ({MIN_WINDOW_SECONDS}s to "
        f"{MAX_BASELINE_SECONDS // 3600}h; default 30m).",
    )

    @field_validator("soak")
    @classmethod
    def _soak(cls, value: int | None) -> int | None:
        return None if value is None else _within(value, MIN_WINDOW_SECONDS, MAX_SOAK_SECONDS)

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, value: int | None) -> int | None:
        return None if value is None else _within(value, MIN_WINDOW_SECONDS, MAX_BASELINE_SECONDS)


class WindowOut(BaseModel):
    start: datetime
    end: datetime
    seconds: int


def _wire_number(value: float | None) -> WindowValue:
    """JSON has no NaN or infinity: NaN (no data) is null, a quantile beyond the last bucket is "+Inf"."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


class SliRowOut(BaseModel):
    kind: SliKind
    method: str | None
    baseline: WindowValue = Field(description="Success rate in percent; latency and lag in seconds.")
    after: WindowValue
    delta: WindowValue
    threshold: str
    ok: bool | None = Field(description="null: could not be judged (see note).")
    note: str | None

    @classmethod
    def of(cls, row: SliRow) -> SliRowOut:
        numbers = {name: _wire_number(getattr(row, name)) for name in ("baseline", "after", "delta")}
        return cls(kind=row.kind, method=row.method, threshold=row.threshold, ok=row.ok, note=row.note, **numbers)


class VerdictOut(BaseModel):
    outcome: VerdictOutcome
    reason: str
    rows: list[SliRowOut]


class DeployOut(BaseModel):
    id: str
    service: str
    build: str
    at: datetime
    status: DeployStatus
    baseline: WindowOut
    soak: WindowOut
    verdict: VerdictOut | None
    slis: SliSettings = Field(description="The SLI settings the deploy is judged with (as when it was recorded).")
    created_at: datetime
    created_by: str
    judged_at: datetime | None
    attempts: int
    last_error: str | None = Field(description="Why the last attempt to read Prometheus failed (while pending).")

    @classmethod
    def of(cls, deploy: Deploy) -> DeployOut:
        verdict = deploy.verdict
        return cls(
            **deploy.model_dump(include={"id", "service", "build", "at", "status", "created_at", "created_by"}),
            **deploy.model_dump(include={"judged_at", "attempts", "last_error"}),
            baseline=WindowOut(start=deploy.baseline_start, end=deploy.at, seconds=deploy.baseline_seconds),
            soak=WindowOut(
                start=deploy.at, end=deploy.at + timedelta(seconds=deploy.soak_seconds), seconds=deploy.soak_seconds
            ),
            verdict=None
            if verdict is None
            else VerdictOut(
                outcome=verdict.outcome, reason=verdict.reason, rows=[SliRowOut.of(r) for r in verdict.rows]
            ),
            slis=SliSettings.of(deploy.slis),
        )


class DeployListOut(BaseModel):
    deploys: list[DeployOut]


class DeployEventsOut(BaseModel):
    events: list[EventOut]

    @classmethod
    def of(cls, events: list[HistoryEvent]) -> DeployEventsOut:
        return cls(events=[EventOut.of(e) for e in events])


class ServiceSlisOut(BaseModel):
    service: str
    source: Literal["stored", "defaults"]
    settings: SliSettings
    effective_rules: list[SliRule] = Field(description="One complete rule per SLI: the settings' plus defaults.")
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def of(cls, slis: ServiceSlis) -> ServiceSlisOut:
        return cls(
            **slis.model_dump(include={"service", "updated_at", "updated_by"}),
            source="defaults" if slis.updated_at is None else "stored",
            settings=SliSettings.of(slis.settings),
            effective_rules=slis.settings.effective_rules(),
        )


class ServiceSlisListOut(BaseModel):
    services: list[ServiceSlisOut]
