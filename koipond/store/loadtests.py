"""Load tests in the table, each write paired with its history event in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from koipond.errors import ConflictError, NotFoundError, StaleVersionError
from koipond.models.history import HistoryEvent
from koipond.models.tests import LoadTest, LoadTestStatus
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import LOADTESTS, loadtest_pk, loadtests_index
from koipond.store.pond_changes import DynamoPondChanges
from koipond.store.schema import META
from koipond.store.table import NEW_ITEM, SAME_VERSION, ConditionFailed, DynamoTable, staged_actions


class DynamoLoadTestRepository:
    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository) -> None:
        self._table = table
        self._history = history
        self._changes = DynamoPondChanges(table)  # every write of a test may change the allocation

    def get(self, test_id: str) -> LoadTest:
        item = self._table.get(loadtest_pk(test_id), META)
        if item is None:
            raise NotFoundError(f"no load test with id {test_id!r}", {"test_id": test_id})
        return LOADTESTS.from_item(item)

    def get_many(self, test_ids: Sequence[str]) -> list[LoadTest]:
        items = self._table.batch_get([(loadtest_pk(test_id), META) for test_id in test_ids])
        return [LOADTESTS.from_item(item) for item in items]

    def list_by_status(self, status: LoadTestStatus | None = None) -> list[LoadTest]:
        items = self._table.query_newest(loadtests_index(st) for st in ([status] if status else list(LoadTestStatus)))
        return sorted(map(LOADTESTS.from_item, items), key=lambda t: t.created_at, reverse=True)

    def create(self, test: LoadTest, event: HistoryEvent) -> None:
        try:
            # Prevents: two creates racing on the same id (ids are random, but never overwrite).
            put = self._table.put_action(LOADTESTS.to_item(test), NEW_ITEM)
            self._table.transact([put, self._history.append_action(event), self._changes.move_action()])
        except ConditionFailed as exc:
            raise ConflictError(f"load test {test.id!r} already exists") from exc

    def save(
        self,
        test: LoadTest,
        expected_version: int,
        event: HistoryEvent,
        also: Sequence[object] = (),
    ) -> LoadTest:
        stored, item = LOADTESTS.next_version(test, expected_version)
        # Prevents: lost updates when two people (or a person and the guard) change a test at once.
        put = self._table.put_action(item, SAME_VERSION, {":expected": expected_version})
        actions = [put, self._history.append_action(event), self._changes.move_action(), *staged_actions(also)]
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            conflict = "test" if 0 in exc.failed or not exc.failed else "other"
            raise StaleVersionError(
                f"load test {test.id!r} changed since version {expected_version}; read it again and retry",
                {"test_id": test.id, "expected_version": expected_version, "conflict": conflict},
            ) from exc
        return stored
