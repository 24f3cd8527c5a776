"""Behavior sources in memory: one per behavior name, versioned, listed by when they are due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from koipond.errors import SourceUnreadableError, StaleVersionError
from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite, put_versioned
from koipond.models.behavior_source import BehaviorSourceState
from koipond.models.prometheus import VectorResult


class MemoryBehaviorSourceRepository:
    def __init__(self, writes: MemoryUnitOfWork) -> None:
        self._writes = writes
        self._sources: dict[str, BehaviorSourceState] = {}

    def get(self, name: str) -> BehaviorSourceState | None:
        with self._writes.lock:
            return self._sources.get(name)

    def list_all(self) -> list[BehaviorSourceState]:
        with self._writes.lock:
            return [self._sources[name] for name in sorted(self._sources)]

    def due(self, now: datetime, limit: int) -> list[BehaviorSourceState]:
        with self._writes.lock:
            due = [state for state in self._sources.values() if state.due(now)]
        return sorted(due, key=lambda state: (state.next_due_at, state.name))[:limit]

    def save(
        self, state: BehaviorSourceState, expected_version: int | None, also: Sequence[object] = ()
    ) -> BehaviorSourceState:
        stored = state.model_copy(update={"version": (expected_version or 0) + 1})
        # Prevents: two ticks (or a tick and a person) both acting on the same read of the source.
        put = put_versioned(self._sources, state.name, stored, expected_version)
        failed = self._writes.try_commit([put, *also])
        if failed:
            conflict = "source" if 0 in failed else "other"
            raise StaleVersionError(
                f"the source of behavior {state.name!r} changed meanwhile; read it again",
                {"conflict": conflict, "failed": failed},
            )
        return stored

    def delete(self, name: str, also: Sequence[object] = ()) -> bool:
        with self._writes.lock:
            if name not in self._sources:
                return False
            self._writes.commit([MemoryWrite(change=lambda: self._sources.pop(name, None)), *also])
            return True


class MemoryUsageObjects:
    """S3 objects in memory, for service tests: ``objects[(bucket, key)] = text``."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], str] = {}

    def read_text(self, bucket: str, key: str, max_bytes: int) -> str:
        text = self.objects.get((bucket, key))
        if text is None:
            raise SourceUnreadableError(f"cannot read s3://{bucket}/{key}: NoSuchKey")
        if len(text.encode()) > max_bytes:
            raise SourceUnreadableError(f"s3://{bucket}/{key} is larger than {max_bytes:,} bytes")
        return text


class MemoryInstantQueries:
    """Prometheus in memory, for service tests: ``answers[query]`` is what the query yields (else no series)."""

    def __init__(self) -> None:
        self.answers: dict[str, VectorResult] = {}
        self.asked: list[tuple[str, str, datetime]] = []

    def instant_vector(self, cluster: str, query: str, at: datetime) -> VectorResult:
        self.asked.append((cluster, query, at))
        return self.answers.get(query, VectorResult())
