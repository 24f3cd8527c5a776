"""The allocation document, written only if nothing it was computed from has changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from koipond.errors import StaleVersionError
from koipond.models.allocation import Allocation
from koipond.models.history import HistoryEvent
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import ALLOCATION_PK, ESTOP_PK, allocation_from_item, allocation_to_item, loadtest_pk
from koipond.store.schema import META
from koipond.store.table import SAME_VERSION, SAME_VERSION_OR_NEW, ConditionFailed, DynamoTable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class DynamoAllocationRepository:
    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository) -> None:
        self._table = table
        self._history = history

    def get(self) -> Allocation:
        item = self._table.get(ALLOCATION_PK, META)
        return allocation_from_item(item) if item else Allocation()

    def put_action(self, allocation: Allocation, expected_version: int) -> TransactWriteItemTypeDef:
        """Store ``allocation`` as version ``expected_version + 1`` inside another write's transaction."""
        stored = allocation.model_copy(update={"version": expected_version + 1})
        condition = SAME_VERSION_OR_NEW if expected_version == 0 else SAME_VERSION
        # Prevents: overwriting an allocation a concurrent poll wrote after we read ours.
        return self._table.put_action(allocation_to_item(stored), condition, {":expected": expected_version})

    def save(
        self,
        allocation: Allocation,
        expected_version: int,
        test_versions: Mapping[str, int],
        estop_version: int,
        events: Sequence[HistoryEvent] = (),
    ) -> Allocation:
        """Store ``allocation`` as version ``expected_version + 1``, atomically with ``events``.

        Raises:
            StaleVersionError: the allocation, one of the tests or the emergency stop changed since
                they were read; the caller recomputes from fresh state.
        """
        stored = allocation.model_copy(update={"version": expected_version + 1})
        actions = [
            # Prevents: two concurrent polls both writing their own allocation (double-assigned koi).
            self.put_action(allocation, expected_version),
            # Prevents: allocating from a stale emergency-stop state (estop pulled mid-poll).
            self._table.check_action(ESTOP_PK, META, SAME_VERSION_OR_NEW, {":expected": estop_version}),
        ]
        # Prevents: allocating more koi than a test asks for after a concurrent scale-down or stop.
        actions += [
            self._table.check_action(loadtest_pk(test_id), META, SAME_VERSION, {":expected": version})
            for test_id, version in sorted(test_versions.items())
        ]
        actions += [self._history.append_action(event) for event in events]
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise StaleVersionError("allocation inputs changed during the poll") from exc
        return stored
