"""What the schedule is doing to the pond right now, as the observer's checks need to know it; thread-safe."""

from __future__ import annotations

import threading
import time

# Conditions under which a School may fail to start koi for a reason of the drill's making.
KEEPER = "keeper"
AWS = "aws"
ESTOP = "estop"


class PondConditions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._away: set[str] = set()
        self._back_at = 0.0
        self._latency: dict[str, float] = {}  # target route -> injected latency in seconds

    def away(self, what: str) -> None:
        with self._lock:
            self._away.add(what)

    def back(self, what: str) -> None:
        with self._lock:
            self._away.discard(what)
            if what in (KEEPER, AWS):
                self._back_at = time.monotonic()

    def excused(self) -> bool:
        """Whether a School starting too few koi may be the drill's doing (a component away, the stop pulled)."""
        with self._lock:
            return bool(self._away)

    def keeper_back_at(self) -> float:
        """When the Keeper and the embedded AWS were last both back (now, while either is away)."""
        with self._lock:
            return time.monotonic() if self._away & {KEEPER, AWS} else self._back_at

    def set_latency(self, route: str, seconds: float) -> None:
        with self._lock:
            if seconds:
                self._latency[route] = seconds
            else:
                self._latency.pop(route, None)

    def max_latency(self) -> float:
        """The longest latency injected at the target now: how late a request already received may be counted."""
        with self._lock:
            return max(self._latency.values(), default=0.0)
