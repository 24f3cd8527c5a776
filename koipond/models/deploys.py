"""Deploys and their verdicts: the SLIs a deploy is judged on, the windows compared, and the result."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from koipond.models.guard import DEFAULT_CLUSTER, LABEL_PATTERN

SERVICE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
BUILD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:+/@-]{0,127}$"
# Label names as Prometheus allows them; values are escaped into PromQL string literals, never pasted.
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
MAX_MATCHERS = 5
# Per-method rows multiply the queries' label cardinality and the verdict's size; 20 covers a real API's hot set.
MAX_METHODS = 20
DEFAULT_SOAK_SECONDS = 15 * 60
DEFAULT_BASELINE_SECONDS = 30 * 60
# Bounds: at least a few scrapes per window, at most what a verdict should wait for (and Prometheus keeps).
MIN_WINDOW_SECONDS = 10
MAX_SOAK_SECONDS = 6 * 3600
MAX_BASELINE_SECONDS = 24 * 3600


def sortable(at: datetime) -> str:
    """Fixed-width UTC text, so that string order is time order (a deploy's id and its storage keys use it)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_sortable(text: str) -> datetime:
    """The time :func:`sortable` wrote (in UTC, to the microsecond)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class SliKind(StrEnum):
    SUCCESS_RATE = "success_rate"  # share of Web API calls answered ok, per method, in percent
    LATENCY_P50 = "latency_p50"  # per method, seconds
    LATENCY_P99 = "latency_p99"  # per method, seconds
    WEBSOCKET_LAG_P99 = "websocket_lag_p99"  # end-to-end message event lag, seconds

    @property
    def per_method(self) -> bool:
        return self is not SliKind.WEBSOCKET_LAG_P99

    @property
    def is_latency(self) -> bool:
        return self is not SliKind.SUCCESS_RATE


def format_sli_value(kind: SliKind, value: float | None) -> str:
    """A row value for people, as the verdict's reason writes it: percent for success rates, else milliseconds."""
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:.2f}%" if kind is SliKind.SUCCESS_RATE else f"{value * 1000:.1f} ms"


class SliRule(BaseModel):
    """When one SLI fails a deploy. Success rate: it drops by more than ``max_drop_points`` percentage points.
    Latency and lag: they rise by more than ``max_increase_percent`` AND by more than ``min_increase_ms``
    (both), so noise on tiny values never fails a deploy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: SliKind
    enabled: bool = True
    max_drop_points: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    max_increase_percent: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)
    min_increase_ms: float | None = Field(default=None, ge=0, le=600_000, allow_inf_nan=False)

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> Self:
        latency_fields = self.max_increase_percent is not None or self.min_increase_ms is not None
        if self.kind.is_latency and self.max_drop_points is not None:
            raise ValueError(f"max_drop_points applies to success_rate, not {self.kind.value}")
        if not self.kind.is_latency and latency_fields:
            raise ValueError("max_increase_percent and min_increase_ms apply to latency and lag SLIs, not success_rate")
        return self

    def filled(self) -> SliRule:
        """This rule with the shipped default for every threshold it leaves out."""
        default = DEFAULT_RULES[self.kind]
        updates = {name: getattr(default, name) for name in _THRESHOLDS if getattr(self, name) is None}
        return self.model_copy(update=updates)


_THRESHOLDS = ("max_drop_points", "max_increase_percent", "min_increase_ms")

DEFAULT_RULES: dict[SliKind, SliRule] = {
    SliKind.SUCCESS_RATE: SliRule(kind=SliKind.SUCCESS_RATE, max_drop_points=0.5),
    SliKind.LATENCY_P50: SliRule(kind=SliKind.LATENCY_P50, max_increase_percent=20, min_increase_ms=5),
    SliKind.LATENCY_P99: SliRule(kind=SliKind.LATENCY_P99, max_increase_percent=20, min_increase_ms=25),
    SliKind.WEBSOCKET_LAG_P99: SliRule(kind=SliKind.WEBSOCKET_LAG_P99, max_increase_percent=20, min_increase_ms=25),
}


class SliSettings(BaseModel):
    """What a service's deploys are judged on; ``rules`` holds one rule per kind (defaults fill the rest)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster: str = Field(default=DEFAULT_CLUSTER, pattern=LABEL_PATTERN, description="A configured Prometheus.")
    matchers: dict[str, str] = Field(
        default_factory=dict,
        description="Label matchers (exact) added to every query, e.g. {'pond': 'local'} to pick the Schools.",
    )
    rules: tuple[SliRule, ...] = Field(default=(), max_length=len(SliKind))
    min_calls: int = Field(default=50, ge=1, le=10_000_000, description="Calls of a method a window needs.")
    min_lag_samples: int = Field(default=50, ge=1, le=10_000_000, description="Lag samples a window needs.")
    max_methods: int = Field(default=MAX_METHODS, ge=1, le=MAX_METHODS, description="Busiest methods compared.")

    @field_validator("matchers")
    @classmethod
    def _bounded_matchers(cls, matchers: dict[str, str]) -> dict[str, str]:
        if len(matchers) > MAX_MATCHERS:
            raise ValueError(f"at most {MAX_MATCHERS} matchers")
        for name, value in matchers.items():
            if not LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"{name!r} is not a label name")
            if len(value) > 200:
                raise ValueError(f"the value of {name!r} is longer than 200 characters")
        return matchers

    @model_validator(mode="after")
    def _one_rule_per_kind_and_something_to_judge(self) -> Self:
        kinds = [rule.kind for rule in self.rules]
        if len(set(kinds)) != len(kinds):
            raise ValueError("rules name a kind more than once")
        if not any(rule.enabled for rule in self.effective_rules()):
            raise ValueError("every SLI is disabled: a deploy would have nothing to be judged on")
        return self

    def effective_rules(self) -> list[SliRule]:
        """One complete rule per kind, in :class:`SliKind` order."""
        given = {rule.kind: rule.filled() for rule in self.rules}
        return [given.get(kind, DEFAULT_RULES[kind]) for kind in SliKind]


class ServiceSlis(BaseModel):
    """A service's stored SLI settings (``None`` fields of who/when mean the shipped defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str
    settings: SliSettings
    updated_at: datetime | None = None
    updated_by: str | None = None


class DeployStatus(StrEnum):
    PENDING = "pending"  # the soak window has not ended, or Prometheus could not be read yet
    JUDGED = "judged"


class VerdictOutcome(StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"  # too little traffic, no data, or Prometheus unreadable until the deadline


class SliRow(BaseModel):
    """One SLI of one method compared: ``ok`` is None when it could not be judged (see ``note``)."""

    # NaN and infinities (a p99 over +Inf buckets) survive JSON storage as strings.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    kind: SliKind
    method: str | None = None
    baseline: float | None = None
    after: float | None = None
    delta: float | None = None
    threshold: str
    ok: bool | None = None
    note: str | None = None


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: VerdictOutcome
    reason: str
    rows: tuple[SliRow, ...] = ()


class Deploy(BaseModel):
    """A deploy marker posted by a deploy tool, and (once judged) its verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    service: str = Field(pattern=SERVICE_PATTERN)
    build: str = Field(pattern=BUILD_PATTERN)
    at: datetime = Field(description="When the deploy happened: the soak window starts here.")
    soak_seconds: int = Field(ge=MIN_WINDOW_SECONDS, le=MAX_SOAK_SECONDS)
    baseline_seconds: int = Field(ge=MIN_WINDOW_SECONDS, le=MAX_BASELINE_SECONDS)
    slis: SliSettings = Field(description="The SLI settings in force when the deploy was recorded.")
    status: DeployStatus = DeployStatus.PENDING
    verdict: Verdict | None = None
    created_at: datetime
    created_by: str
    judged_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    version: int = 1

    @property
    def baseline_start(self) -> datetime:
        return self.at - timedelta(seconds=self.baseline_seconds)

    @property
    def soak_end(self) -> datetime:
        return self.at + timedelta(seconds=self.soak_seconds)
