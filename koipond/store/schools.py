"""School heartbeats: the last thing each School said, expiring by TTL when it goes silent."""

from __future__ import annotations

from koipond.models.schools import School
from koipond.store.items import SCHOOLS_INDEX, school_from_item, school_pk, school_to_item
from koipond.store.schema import META
from koipond.store.table import DynamoTable

# Heartbeats outlive liveness by far: a dead School stays visible (as dead) for a day, then TTL removes it.
HEARTBEAT_TTL_SECONDS = 24 * 3600


class DynamoSchoolRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def get(self, school_id: str) -> School | None:
        item = self._table.get(school_pk(school_id), META)
        return school_from_item(item) if item else None

    def heartbeat(self, school: School) -> None:
        """Record a poll; last writer wins, which is right: a School's newest poll is the truth."""
        expires_at = int(school.last_poll_at.timestamp()) + HEARTBEAT_TTL_SECONDS
        self._table.transact([self._table.put_action(school_to_item(school, expires_at))])

    def list_all(self) -> list[School]:
        return [school_from_item(item) for item in self._table.query(SCHOOLS_INDEX, index=True)]
