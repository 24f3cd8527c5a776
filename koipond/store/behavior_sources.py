"""Behavior sources: one item per behavior name, listed in their index partition by when they are due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from koipond.errors import StaleVersionError
from koipond.models.behavior_source import BehaviorSourceState
from koipond.store.items import VersionedItems
from koipond.store.schema import META
from koipond.store.table import NEW_ITEM, SAME_VERSION, ConditionFailed, DynamoTable, staged_actions

SOURCES_INDEX = "BEHAVIOR_SOURCES"
# Due sources are the first items of the index partition (ordered by due time); read a few more than asked,
# since some of them may be held by a running tick.
_READ_AHEAD = 4


def source_pk(name: str) -> str:
    # Not BEHAVIOR#<name>: that partition holds exactly the behavior's versions, which its queries page through.
    return f"BEHAVIOR_SOURCE#{name}"


def _due_key(at: datetime) -> str:
    """Sortable: fixed-width UTC, so string order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


SOURCES = VersionedItems(
    BehaviorSourceState,
    keys=lambda state: (source_pk(state.name), META),
    index=lambda state: (SOURCES_INDEX, f"{_due_key(state.next_due_at)}#{state.name}"),
)


class DynamoBehaviorSourceRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def get(self, name: str) -> BehaviorSourceState | None:
        item = self._table.get(source_pk(name), META)
        return SOURCES.from_item(item) if item else None

    def list_all(self) -> list[BehaviorSourceState]:
        states = [SOURCES.from_item(item) for item in self._table.query(SOURCES_INDEX, index=True)]
        return sorted(states, key=lambda state: state.name)

    def due(self, now: datetime, limit: int) -> list[BehaviorSourceState]:
        # The index is eventually consistent: a source read here may have moved on; its claim (a conditional
        # write on its version) is what decides, so a stale read costs a failed condition, never a second run.
        items = self._table.query(SOURCES_INDEX, index=True, limit=limit * _READ_AHEAD)
        due = [state for state in map(SOURCES.from_item, items) if state.due(now)]
        return due[:limit]

    def save(
        self, state: BehaviorSourceState, expected_version: int | None, also: Sequence[object] = ()
    ) -> BehaviorSourceState:
        stored, item = SOURCES.next_version(state, expected_version or 0)
        # Prevents: two ticks (or a tick and a person) both acting on the same read of the source.
        if expected_version is None:
            put = self._table.put_action(item, NEW_ITEM)
        else:
            put = self._table.put_action(item, SAME_VERSION, {":expected": expected_version})
        try:
            self._table.transact([put, *staged_actions(also)])
        except ConditionFailed as exc:
            conflict = "source" if 0 in exc.failed or not exc.failed else "other"
            raise StaleVersionError(
                f"the source of behavior {state.name!r} changed meanwhile; read it again",
                {"conflict": conflict, "failed": list(exc.failed)},
            ) from exc
        return stored

    def delete(self, name: str, also: Sequence[object] = ()) -> bool:
        if self._table.get(source_pk(name), META) is None:
            return False
        self._table.transact([self._table.delete_action(source_pk(name), META), *staged_actions(also)])
        return True
