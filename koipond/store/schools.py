"""School heartbeats: the last thing each School said, expiring by TTL when it goes silent.

A heartbeat keeps the School's totals and a digest of its koi per test; the map itself is an item of
its own (pk ``RUNNING``, sk ``SCHOOL#<id>``), written only when the digest changes, so a steady poll
writes the same few hundred bytes whether the School runs one test or a thousand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from koipond.models.schools import PreviousHeartbeat, School
from koipond.store.items import (
    LAST_POLL,
    RUNNING_DIGEST,
    SCHOOLS_INDEX,
    heartbeat_update,
    school_from_item,
    school_pk,
)
from koipond.store.schema import DOC, GSI1_PK, META, PK, SK, TTL_ATTRIBUTE
from koipond.store.table import ConditionFailed, DynamoTable, Item

# Heartbeats outlive liveness by far: a dead School stays visible (as dead) for a day, then TTL removes it.
HEARTBEAT_TTL_SECONDS = 24 * 3600
# Dead Schools leave the allocator's index (so its per-pass Query holds only live ones) for this one.
RETIRED_INDEX = "SCHOOLS#retired"
RUNNING_PK = "RUNNING"


class DynamoSchoolRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def get(self, school_id: str) -> School | None:
        item = self._table.get(school_pk(school_id), META)
        return school_from_item(item) if item else None

    def heartbeat(self, school_id: str, capacity: int, running: Mapping[str, int], at: datetime) -> PreviousHeartbeat:
        update, values, names = heartbeat_update(school_id, capacity, running, at, HEARTBEAT_TTL_SECONDS)
        before = self._table.update(school_pk(school_id), META, update, values, names, returning="ALL_OLD")
        return PreviousHeartbeat(school_from_item(before), before.get(RUNNING_DIGEST) != values[":digest"])

    def save_running(self, school_id: str, running: Mapping[str, int], at: datetime) -> None:
        item = {
            PK: RUNNING_PK,
            SK: school_pk(school_id),
            DOC: json.dumps(dict(running), separators=(",", ":")),
            TTL_ATTRIBUTE: int(at.timestamp()) + HEARTBEAT_TTL_SECONDS,
        }
        self._table.put(item)

    def forget_running_digest(self, school_id: str) -> None:
        self._table.update(school_pk(school_id), META, "REMOVE #digest", {}, {"#digest": RUNNING_DIGEST})

    def running_by_school(self) -> dict[str, dict[str, int]]:
        return {item[SK].removeprefix("SCHOOL#"): json.loads(item[DOC]) for item in self._table.query(RUNNING_PK)}

    def list_all(self) -> list[School]:
        return _schools(self._table.query(SCHOOLS_INDEX, index=True))

    def list_retired(self) -> list[School]:
        return _schools(self._table.query(RETIRED_INDEX, index=True))

    def retire(self, school: School) -> bool:
        try:
            # Prevents: retiring a School whose poll landed after it was judged dead.
            self._table.update_if(
                school_pk(school.id), META, "SET #gpk = :retired", "#last = :last",
                {":retired": RETIRED_INDEX, ":last": school.last_poll_at.isoformat()},
                {"#gpk": GSI1_PK, "#last": LAST_POLL},
            )  # fmt: skip
        except ConditionFailed:
            return False
        return True


def _schools(items: list[Item]) -> list[School]:
    return [school for school in map(school_from_item, items) if school is not None]
