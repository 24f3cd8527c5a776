"""The unit of work over the table: writes staged by the DynamoDB repositories, committed in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from koipond.errors import StaleVersionError
from koipond.store.table import ConditionFailed, DynamoTable, staged_actions


class DynamoUnitOfWork:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def commit(self, writes: Sequence[object]) -> None:
        try:
            self._table.transact(staged_actions(writes))
        except ConditionFailed as exc:
            raise StaleVersionError(
                "what these writes were decided on changed meanwhile; read it again and retry",
                {"failed": list(exc.failed)},
            ) from exc
