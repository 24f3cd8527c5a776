"""Fault injection: which routes fail or slow down, decided with a seedable RNG so tests are deterministic."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slacklike_target.wire import KNOWN_METHODS

ALL_ROUTES = "*"
FAULT_ROUTES = (ALL_ROUTES, *KNOWN_METHODS)


class FaultSpec(BaseModel):
    """One route's fault, as ``PUT /admin/faults`` takes it; a route-specific fault overrides ``*``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    route: str = Field(description="A Web API method name, 'websocket' (the /ws upgrade), or '*' for every route.")
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of calls answered with `status`.")
    status: Literal[429, 500, 503] = Field(default=503, description="HTTP status of injected errors.")
    added_latency_ms: int = Field(default=0, ge=0, le=600_000, description="Delay added before every answer.")
    retry_after_seconds: int = Field(default=1, ge=0, le=3600, description="Retry-After of injected 429s.")
    reset_websockets: bool = Field(
        default=False, description="Close every open websocket once, when this fault is put (not stored)."
    )

    @field_validator("route")
    @classmethod
    def _known_route(cls, route: str) -> str:
        if route not in FAULT_ROUTES:
            raise ValueError(f"unknown route {route!r}; routes: {', '.join(FAULT_ROUTES)}")
        return route


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What happens to one call: a delay first, then maybe an error instead of the answer."""

    latency_seconds: float = 0.0
    error_status: int | None = None
    retry_after_seconds: int = 0


NO_FAULT = FaultDecision()


def decide(spec: FaultSpec | None, rng: random.Random) -> FaultDecision:
    """Roll the dice for one call; the RNG is drawn only when the spec has an error rate."""
    if spec is None:
        return NO_FAULT
    failed = spec.error_rate > 0 and rng.random() < spec.error_rate
    return FaultDecision(
        latency_seconds=spec.added_latency_ms / 1000,
        error_status=spec.status if failed else None,
        retry_after_seconds=spec.retry_after_seconds,
    )


class FaultTable:
    """The active faults by route."""

    def __init__(self, seed: int | None = None) -> None:
        # Not for security: a reproducible sequence of injected failures.
        self._rng = random.Random(seed)  # noqa: S311
        self._faults: dict[str, FaultSpec] = {}

    def put(self, spec: FaultSpec) -> FaultSpec:
        """Store (or replace) the route's fault; the one-shot ``reset_websockets`` is not stored."""
        stored = spec.model_copy(update={"reset_websockets": False})
        if stored.error_rate == 0 and stored.added_latency_ms == 0:
            self._faults.pop(stored.route, None)
        else:
            self._faults[stored.route] = stored
        return stored

    def clear(self, route: str | None = None) -> int:
        """Remove one route's fault, or all; returns how many were removed."""
        if route is None:
            count = len(self._faults)
            self._faults.clear()
            return count
        return 1 if self._faults.pop(route, None) is not None else 0

    def active(self) -> list[FaultSpec]:
        return list(self._faults.values())

    def decide(self, method: str) -> FaultDecision:
        """The fault for one call of ``method`` (its own fault, else the ``*`` one, else none)."""
        if not self._faults:
            return NO_FAULT
        return decide(self._faults.get(method) or self._faults.get(ALL_ROUTES), self._rng)
