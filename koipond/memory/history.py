"""History in memory: append-only per subject, ordered by event id (time first), high-volume kinds expire."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite, put_new
from koipond.models.cursors import decode_cursor, encode_cursor
from koipond.models.history import DEFAULT_RETENTION_DAYS, HistoryEvent, expires_at


@dataclass(frozen=True)
class _Stored:
    event: HistoryEvent
    expires_at: int | None  # epoch seconds, truncated as the table's TTL attribute is

    def alive(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now.timestamp()


class MemoryHistoryRepository:
    def __init__(self, writes: MemoryUnitOfWork, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self._writes = writes
        self._retention = timedelta(days=retention_days)
        self._subjects: dict[str, dict[str, _Stored]] = {}

    def append_action(self, event: HistoryEvent) -> MemoryWrite:
        expiry = expires_at(event, self._retention)
        stored = _Stored(event, int(expiry.timestamp()) if expiry else None)
        with self._writes.lock:
            events = self._subjects.setdefault(event.subject, {})
        return put_new(events, event.id, stored)

    def append(self, event: HistoryEvent) -> None:
        self._writes.commit([self.append_action(event)])

    def list_events(
        self, subject: str, *, newest_first: bool = False, limit: int | None = None, now: datetime | None = None
    ) -> list[HistoryEvent]:
        stored = self._in_order(subject, None, newest_first)
        if now is not None:
            stored = (s for s in stored if s.alive(now))
        return [s.event for s in islice(stored, limit)]

    def page(
        self, subject: str, *, limit: int, cursor: str | None = None, newest_first: bool = False, now: datetime
    ) -> tuple[list[HistoryEvent], str | None]:
        after = decode_cursor(cursor, subject, newest_first=newest_first) if cursor is not None else None
        alive = (s.event for s in self._in_order(subject, after, newest_first) if s.alive(now))
        found = list(islice(alive, limit + 1))
        events = found[:limit]
        more = len(found) > limit
        return events, encode_cursor(subject, events[-1].id, newest_first=newest_first) if more else None

    def events_from(self, subject: str, first_id: str) -> list[HistoryEvent]:
        """``subject``'s events whose id sorts at or after ``first_id``, oldest first."""
        return [s.event for s in self._in_order(subject, None, newest_first=False) if s.event.id >= first_id]

    def _in_order(self, subject: str, after: str | None, newest_first: bool) -> Iterator[_Stored]:
        with self._writes.lock:
            events = sorted(self._subjects.get(subject, {}).items(), reverse=newest_first)
        for event_id, stored in events:
            if after is None or (event_id < after if newest_first else event_id > after):
                yield stored
