"""Behavior documents in memory: every upload is a new, immutable version."""

from __future__ import annotations

from koipond.errors import ConflictError, NotFoundError
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite, put_new
from koipond.models.behavior import StoredBehavior
from koipond.models.behavior_cursors import cursor_version, versions_cursor
from koipond.models.history import HistoryEvent


def _index_key(behavior: StoredBehavior) -> str:
    """The order DynamoDB lists behaviors in (its index's sort key): name, then version."""
    return f"{behavior.name}#{behavior.version:010d}"


class MemoryBehaviorRepository:
    def __init__(self, writes: MemoryUnitOfWork, history: MemoryHistoryRepository) -> None:
        self._writes = writes
        self._history = history
        self._versions: dict[tuple[str, int], StoredBehavior] = {}

    def latest(self, name: str) -> StoredBehavior | None:
        with self._writes.lock:
            versions = [v for (n, v) in self._versions if n == name]
            return self._versions[(name, max(versions))] if versions else None

    def get(self, name: str, version: int | None = None) -> StoredBehavior:
        found = self.latest(name) if version is None else self._versions.get((name, version))
        if found is None:
            suffix = "" if version is None else f" version {version}"
            raise NotFoundError(f"no behavior {name!r}{suffix}", {"name": name, "version": version})
        return found

    def list_latest(self) -> list[StoredBehavior]:
        with self._writes.lock:
            listed = sorted(self._versions.values(), key=_index_key)
        latest: dict[str, StoredBehavior] = {}
        for behavior in listed:
            latest[behavior.name] = behavior  # in index order the last one of a name is its latest
        return list(latest.values())

    def versions_page(
        self, name: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[StoredBehavior], str | None]:
        below = None if cursor is None else cursor_version(name, cursor)
        with self._writes.lock:
            numbers = sorted(
                (v for (n, v) in self._versions if n == name and (below is None or v < below)), reverse=True
            )
            versions = [self._versions[(name, v)] for v in numbers[:limit]]
        more = len(numbers) > limit
        return versions, versions_cursor(name, versions[-1].version) if more else None

    def put(self, behavior: StoredBehavior, event: HistoryEvent) -> None:
        # Prevents: two concurrent uploads both claiming the same version number.
        put = put_new(self._versions, (behavior.name, behavior.version), behavior)
        if self._writes.try_commit([put, self._history.append_action(event)]):
            raise ConflictError(
                f"behavior {behavior.name!r} version {behavior.version} was just stored by someone else; retry"
            )

    def stage_put(self, behavior: StoredBehavior) -> MemoryWrite:
        # Prevents: a re-derived version and an upload (or two ticks) claiming the same version number.
        return put_new(self._versions, (behavior.name, behavior.version), behavior)
