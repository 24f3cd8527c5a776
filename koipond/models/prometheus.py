"""What Prometheus answered, as the core reads it: range samples for the guard, instant vectors for deploys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One point of a range query: Unix seconds and the value (NaN and ±inf happen in PromQL)."""

    at: float
    value: float


@dataclass(frozen=True)
class QueryResult:
    """What the driver got for one query: its samples, or why the query failed.

    ``error`` is set when the query failed: connection refused, timeout, bad PromQL, more than one series;
    ``unreachable`` says the failure was Prometheus not answering at all (down, refused, timed out), as
    opposed to answering with a refusal, so the console can say which.
    """

    samples: tuple[Sample, ...] = ()
    error: str | None = None
    unreachable: bool = False

    def __post_init__(self) -> None:
        if self.error is not None and self.samples:
            raise ValueError("a failed query carries no samples: set either samples or error")
        if self.unreachable and self.error is None:
            raise ValueError("an unreachable Prometheus is an error: say why in error")


@dataclass(frozen=True)
class VectorSample:
    """One series of an instant query: its labels and value."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class VectorResult:
    """An instant query's series, or the error that kept Prometheus from answering."""

    series: tuple[VectorSample, ...] = ()
    error: str | None = None
