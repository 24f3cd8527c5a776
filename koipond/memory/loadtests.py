"""Load tests in memory, each write committed with its history event and a move of the pond's changes."""

from __future__ import annotations

from collections.abc import Sequence

from koipond.errors import ConflictError, NotFoundError, StaleVersionError
from koipond.memory.changes import MemoryPondChanges
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite, put_versioned
from koipond.models.history import HistoryEvent
from koipond.models.tests import LoadTest, LoadTestStatus


class MemoryLoadTestRepository:
    def __init__(self, writes: MemoryUnitOfWork, history: MemoryHistoryRepository, changes: MemoryPondChanges) -> None:
        self._writes = writes
        self._history = history
        self._changes = changes  # every write of a test may change the allocation
        self._tests: dict[str, LoadTest] = {}

    def get(self, test_id: str) -> LoadTest:
        test = self._tests.get(test_id)
        if test is None:
            raise NotFoundError(f"no load test with id {test_id!r}", {"test_id": test_id})
        return test

    def get_many(self, test_ids: Sequence[str]) -> list[LoadTest]:
        return [self._tests[test_id] for test_id in dict.fromkeys(test_ids) if test_id in self._tests]

    def list_by_status(self, status: LoadTestStatus | None = None) -> list[LoadTest]:
        with self._writes.lock:
            found = [test for test in self._tests.values() if status is None or test.status is status]
        return sorted(found, key=lambda t: (t.created_at, t.id), reverse=True)

    def create(self, test: LoadTest, event: HistoryEvent) -> None:
        put = put_versioned(self._tests, test.id, test, None)
        if self._writes.try_commit([put, self._history.append_action(event), self._changes.move_action()]):
            raise ConflictError(f"load test {test.id!r} already exists")

    def save(
        self,
        test: LoadTest,
        expected_version: int,
        event: HistoryEvent,
        also: Sequence[object] = (),
    ) -> LoadTest:
        stored = test.model_copy(update={"version": expected_version + 1})
        put = put_versioned(self._tests, test.id, stored, expected_version)
        failed = self._writes.try_commit([put, self._history.append_action(event), self._changes.move_action(), *also])
        if failed:
            raise StaleVersionError(
                f"load test {test.id!r} changed since version {expected_version}; read it again and retry",
                {
                    "test_id": test.id,
                    "expected_version": expected_version,
                    "conflict": "test" if 0 in failed else "other",
                },
            )
        return stored

    def unchanged(self, test_id: str, version: int) -> MemoryWrite:
        """A write that changes nothing and holds only while ``test_id`` is stored at ``version``."""

        def holds() -> bool:
            test = self._tests.get(test_id)
            return test is not None and test.version == version

        return MemoryWrite(change=lambda: None, holds=holds)
