"""What a drill saw: faults and operations by kind, invariant checks by kind, violations; thread-safe."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Violation:
    at: float  # seconds since the drill started
    kind: str
    detail: str


class Findings:
    """Tallies shared by the drill's threads (the schedule, the observer, the token scenario)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.faults: Counter[str] = Counter()
        self.operations: Counter[str] = Counter()
        self.checks: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.violations: list[Violation] = []
        self.skipped: dict[str, str] = {}  # fault kind -> why it was not injected
        self.stop_latencies: list[float] = []
        self.notes: list[str] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def operation(self, kind: str) -> None:
        with self._lock:
            self.operations[kind] += 1

    def retry(self, what: str) -> None:
        with self._lock:
            self.retries[what] += 1

    def check(self, kind: str, ok: bool, detail: str = "") -> bool:
        """Count one check of ``kind``; record a violation when it failed. Returns ``ok``."""
        with self._lock:
            self.checks[kind] += 1
        if not ok:
            self.violation(kind, detail)
        return ok

    def violation(self, kind: str, detail: str) -> None:
        found = Violation(round(self.elapsed(), 2), kind, detail)
        with self._lock:
            self.violations.append(found)
        print(f"VIOLATION t={found.at:.1f}s {kind}: {detail}", flush=True)

    def stop_latency(self, seconds: float) -> None:
        with self._lock:
            self.stop_latencies.append(seconds)

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(f"t={self.elapsed():.1f}s {text}")
        print(f"note: {text}", flush=True)

    def skip(self, kind: str, why: str) -> None:
        with self._lock:
            if kind in self.skipped:
                return  # the first reason is the one that explains
            self.skipped[kind] = why
        print(f"skipping fault {kind}: {why}", flush=True)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "faults": dict(sorted(self.faults.items())),
                "operations": dict(sorted(self.operations.items())),
                "checks": dict(sorted(self.checks.items())),
                "retries": dict(sorted(self.retries.items())),
                "violations": [asdict(v) for v in self.violations],
                "skipped_faults": dict(self.skipped),
                "worst_stop_latency_seconds": max(self.stop_latencies, default=None),
                "stop_latencies_seconds": [round(s, 3) for s in self.stop_latencies],
                "notes": list(self.notes),
            }
