"""The shutdown guard's Query objects, the Prometheus endpoints they read, and evaluation records."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from koipond.models.durations import parse_duration

LABEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DEFAULT_CLUSTER = "pond"


class Comparator(StrEnum):
    """How a sample is compared with the threshold; a sample *breaches* when the comparison holds.

    Named as in the original Koi Pond: ``LessThan`` breaches when value < threshold (e.g. a success
    rate falling below 95%), ``GreaterThan`` when value > threshold (e.g. p99 latency above 2 s).
    """

    LESS_THAN = "LessThan"
    LESS_THAN_OR_EQUAL = "LessThanOrEqual"
    GREATER_THAN = "GreaterThan"
    GREATER_THAN_OR_EQUAL = "GreaterThanOrEqual"

    def breached(self, value: float, threshold: float) -> bool:
        match self:
            case Comparator.LESS_THAN:
                return value < threshold
            case Comparator.LESS_THAN_OR_EQUAL:
                return value <= threshold
            case Comparator.GREATER_THAN:
                return value > threshold
            case Comparator.GREATER_THAN_OR_EQUAL:
                return value >= threshold


class NoDataPolicy(StrEnum):
    IGNORE = "ignore"
    STOP = "stop"


class ErrorPolicy(BaseModel):
    """What query errors (Prometheus down, bad PromQL, timeouts) do: act after ``consecutive`` in a row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["ignore", "stop"] = "stop"
    consecutive: int = Field(default=3, ge=1, le=1000)


class Scope(BaseModel):
    """Which running tests a breach acts on: all of them, or those carrying any of ``tags``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    all_tests: bool = True
    tags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_way(self) -> Scope:
        if self.all_tests == bool(self.tags):
            raise ValueError("scope is either all_tests=true or a non-empty list of tags, not both or neither")
        return self

    def covers(self, test_tags: tuple[str, ...]) -> bool:
        return self.all_tests or bool(set(self.tags) & set(test_tags))


class GuardAction(BaseModel):
    """``stop`` the tests in scope, or ``shed`` ``percent`` of their koi."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["stop", "shed"] = "stop"
    percent: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _percent_for_shed(self) -> GuardAction:
        if (self.kind == "shed") != (self.percent is not None):
            raise ValueError("a shed action needs percent (0-100]; a stop action takes none")
        return self


class GuardQuery(BaseModel):
    """One guard rule: a PromQL query whose every sample over ``time_range`` must not breach."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = Field(pattern=LABEL_PATTERN, description="Unique name; history events name it.")
    query: str = Field(min_length=1, max_length=4000, description="PromQL; one series expected (aggregate it).")
    cluster: str = Field(default=DEFAULT_CLUSTER, pattern=LABEL_PATTERN, description="A configured Prometheus.")
    time_range: str = Field(default="5m", description="Window over which every sample must breach, e.g. 5m.")
    step: str = Field(default="30s", description="Resolution of the range query, e.g. 30s.")
    threshold: float = Field(allow_inf_nan=False)  # a NaN threshold would silently never breach
    comparator: Comparator
    on_no_data: NoDataPolicy = NoDataPolicy.IGNORE
    on_error: ErrorPolicy = Field(default_factory=ErrorPolicy)
    scope: Scope = Field(default_factory=Scope)
    action: GuardAction = Field(default_factory=GuardAction)
    enabled: bool = True

    @field_validator("time_range", "step")
    @classmethod
    def _duration(cls, value: str) -> str:
        seconds = parse_duration(value)  # ValueError names the bad text
        if seconds <= 0:
            raise ValueError(f"must be positive, got {value!r}")
        return value

    @model_validator(mode="after")
    def _step_fits(self) -> GuardQuery:
        if self.step_seconds > self.time_range_seconds:
            raise ValueError(f"step {self.step} is longer than time_range {self.time_range}")
        if self.time_range_seconds / self.step_seconds > 11_000:
            raise ValueError("time_range/step exceeds Prometheus' 11,000 points per series")
        return self

    @property
    def time_range_seconds(self) -> int:
        return parse_duration(self.time_range)

    @property
    def step_seconds(self) -> int:
        return parse_duration(self.step)


class Outcome(StrEnum):
    HEALTHY = "healthy"  # at least one sample in the window is fine
    BREACHING = "breaching"  # every known sample breaches, but they do not (yet) cover the whole window
    BREACH = "breach"  # sustained: every sample over the whole window breaches
    NO_DATA = "no_data"
    ERROR = "error"


class Evaluation(BaseModel):
    """What one guard run found for one query (kept as the query's last evaluation)."""

    # "Infinity" survives JSON storage; a p99 of +inf is exactly the value a breach must keep.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    label: str
    at: datetime
    outcome: Outcome
    value: float | None = None
    samples: int = 0
    detail: str | None = None
    consecutive_errors: int = 0
    acted: bool = False  # whether this evaluation stopped or shed tests


class PrometheusCluster(BaseModel):
    """A Prometheus (or Trickster, or Amazon Managed Prometheus) endpoint queries name by ``cluster``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://", description="Base URL, e.g. http://127.0.0.1:9090.")
    bearer_token: str | None = Field(default=None, repr=False)
    basic_user: str | None = None
    basic_password: str | None = Field(default=None, repr=False)
    sigv4_region: str | None = Field(default=None, description="Sign requests with SigV4 (Amazon Managed Prometheus).")

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusCluster:
        ways = [self.bearer_token is not None, self.basic_user is not None, self.sigv4_region is not None]
        if sum(ways) > 1:
            raise ValueError("use one of bearer_token, basic_user/basic_password or sigv4_region")
        if (self.basic_user is None) != (self.basic_password is None):
            raise ValueError("basic auth needs both basic_user and basic_password")
        return self
