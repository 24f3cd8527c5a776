"""History events: append-only, one partition per subject, in time order; high-volume kinds expire.

A page of history is addressed by an opaque cursor (see :mod:`koipond.models.cursors`), whose sort key is
the table's sort key of the last event returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING

from koipond.models.cursors import decode_cursor, encode_cursor
from koipond.models.history import DEFAULT_RETENTION_DAYS, HistoryEvent, expires_at
from koipond.store.items import Item, event_from_item, event_to_item, history_pk
from koipond.store.schema import TTL_ATTRIBUTE
from koipond.store.table import NEW_ITEM, DynamoTable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_BATCH = 500


def _alive(item: Item, now: datetime) -> bool:
    # DynamoDB deletes expired items days late, if at all soon: an expired event is gone for readers now.
    expiry = item.get(TTL_ATTRIBUTE)
    return expiry is None or expiry > now.timestamp()


class DynamoHistoryRepository:
    def __init__(
        self,
        table: DynamoTable,
        index_keys: Callable[[HistoryEvent], Item],
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        """Args:
        table: the one table.
        index_keys: the extra index attributes an event's item carries (notifications' intent index);
            injected so the store never imports what decides which events notify.
        retention_days: how long high-volume kinds are kept.
        """
        self._table = table
        self._index_keys = index_keys
        self._retention = timedelta(days=retention_days)

    def append_action(self, event: HistoryEvent) -> TransactWriteItemTypeDef:
        expiry = expires_at(event, self._retention)
        item = event_to_item(event, int(expiry.timestamp()) if expiry else None)
        # An event that should notify is its own notification intent, written by the transition's own
        # transaction: no crash between the change and the outbox can lose the notification.
        item.update(self._index_keys(event))
        # Append-only: an event id is never written twice, so no event is ever overwritten.
        return self._table.put_action(item, NEW_ITEM)

    def append(self, event: HistoryEvent) -> None:
        self._table.transact([self.append_action(event)])

    def list_events(
        self, subject: str, *, newest_first: bool = False, limit: int | None = None, now: datetime | None = None
    ) -> list[HistoryEvent]:
        if now is None:
            items = self._table.query(history_pk(subject), ascending=not newest_first, limit=limit)
            return [event_from_item(item) for item in items]
        alive = self._alive_items(subject, None, now, ascending=not newest_first, batch=min(limit or _BATCH, _BATCH))
        return [event_from_item(item) for item in islice(alive, limit)]

    def page(
        self, subject: str, *, limit: int, cursor: str | None = None, newest_first: bool = False, now: datetime
    ) -> tuple[list[HistoryEvent], str | None]:
        after = decode_cursor(cursor, subject, newest_first=newest_first) if cursor is not None else None
        # One event more than asked tells whether a next page exists, so the last page has no cursor.
        alive = self._alive_items(subject, after, now, ascending=not newest_first, batch=limit + 1)
        found = [event_from_item(item) for item in islice(alive, limit + 1)]
        events = found[:limit]
        more = len(found) > limit
        return events, encode_cursor(subject, events[-1].id, newest_first=newest_first) if more else None

    def _alive_items(
        self, subject: str, after: str | None, now: datetime, *, ascending: bool, batch: int
    ) -> Iterator[Item]:
        pk = history_pk(subject)
        while True:
            items, last = self._table.query_page(pk, limit=batch, start_after_sk=after, ascending=ascending)
            yield from (item for item in items if _alive(item, now))
            if last is None:
                return
            after = last
