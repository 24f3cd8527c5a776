"""History events: append-only, one partition per subject, in time order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from koipond.models.history import HistoryEvent
from koipond.store.items import event_from_item, event_to_item, history_pk
from koipond.store.table import NEW_ITEM, DynamoTable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class DynamoHistoryRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def append_action(self, event: HistoryEvent) -> TransactWriteItemTypeDef:
        # Append-only: an event id is never written twice, so no event is ever overwritten.
        return self._table.put_action(event_to_item(event), NEW_ITEM)

    def append(self, event: HistoryEvent) -> None:
        self._table.transact([self.append_action(event)])

    def list_events(self, subject: str, *, newest_first: bool = False, limit: int | None = None) -> list[HistoryEvent]:
        items = self._table.query(history_pk(subject), ascending=not newest_first, limit=limit)
        return [event_from_item(item) for item in items]
