"""The allocator's change feed: one counter that every change able to alter the allocation moves.

| item         | pk     | sk        |
|--------------|--------|-----------|
| pond changes | ``POND`` | ``CHANGES`` |

A test started, scaled, shed, stopped, resumed or completed moves it in the same transaction as the
test; a School that polls for the first time, comes back from the dead or changes its capacity moves
it right after its heartbeat. The allocator reads this one item a pass and reads the tests and the
heartbeats only when it moved (or when a School may have died: see :mod:`koipond.services.allocator`),
so a quiet pond costs it the same at 10 Schools as at 1,000.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from koipond.store.table import DynamoTable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

CHANGES_PK = "POND"
CHANGES_SK = "CHANGES"
_MOVE = "ADD #generation :one"
_NAMES = {"#generation": "generation"}


class DynamoPondChanges:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def read(self) -> int:
        """The counter now (strongly consistent; 0 before the first change)."""
        item = self._table.get(CHANGES_PK, CHANGES_SK)
        return int(item["generation"]) if item else 0

    def move(self) -> None:
        """Move the counter on its own (after a heartbeat, which is not a transaction)."""
        self._table.update(CHANGES_PK, CHANGES_SK, _MOVE, {":one": 1}, _NAMES)

    def move_action(self) -> TransactWriteItemTypeDef:
        """Move the counter in the transaction of the change itself (``ADD`` keeps concurrent moves exact)."""
        return self._table.update_action(CHANGES_PK, CHANGES_SK, _MOVE, values={":one": 1}, names=_NAMES)
