"""Behavior documents: every upload is a new, immutable version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from koipond.errors import ConflictError, NotFoundError
from koipond.models.behavior import StoredBehavior
from koipond.models.behavior_cursors import cursor_version, versions_cursor
from koipond.models.history import HistoryEvent
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import BEHAVIORS, BEHAVIORS_INDEX, behavior_pk, behavior_sk
from koipond.store.table import NEW_ITEM, ConditionFailed, DynamoTable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class DynamoBehaviorRepository:
    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository) -> None:
        self._table = table
        self._history = history

    def latest(self, name: str) -> StoredBehavior | None:
        items = self._table.query(behavior_pk(name), ascending=False, limit=1)
        return BEHAVIORS.from_item(items[0]) if items else None

    def get(self, name: str, version: int | None = None) -> StoredBehavior:
        found = self.latest(name) if version is None else self._get_version(name, version)
        if found is None:
            suffix = "" if version is None else f" version {version}"
            raise NotFoundError(f"no behavior {name!r}{suffix}", {"name": name, "version": version})
        return found

    def _get_version(self, name: str, version: int) -> StoredBehavior | None:
        item = self._table.get(behavior_pk(name), behavior_sk(version))
        return BEHAVIORS.from_item(item) if item else None

    def list_latest(self) -> list[StoredBehavior]:
        latest: dict[str, StoredBehavior] = {}
        for item in self._table.query(BEHAVIORS_INDEX, index=True):
            behavior = BEHAVIORS.from_item(item)
            latest[behavior.name] = behavior  # index order is name, then version: the last one wins
        return list(latest.values())

    def versions_page(
        self, name: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[StoredBehavior], str | None]:
        start = None if cursor is None else behavior_sk(cursor_version(name, cursor))
        pk = behavior_pk(name)
        # One version more than asked tells whether a next page exists, so the last page has no cursor.
        # Each Query reads at most that many items; DynamoDB may stop one short at 1 MB, so go on from there.
        found: list[StoredBehavior] = []
        while len(found) <= limit:
            items, last = self._table.query_page(
                pk, limit=limit + 1 - len(found), start_after_sk=start, ascending=False
            )
            found += [BEHAVIORS.from_item(item) for item in items]
            if last is None:
                break
            start = last
        versions = found[:limit]
        more = len(found) > limit
        return versions, versions_cursor(name, versions[-1].version) if more else None

    def put(self, behavior: StoredBehavior, event: HistoryEvent) -> None:
        # Prevents: two concurrent uploads both claiming the same version number.
        actions = [
            self._table.put_action(BEHAVIORS.to_item(behavior), NEW_ITEM),
            self._history.append_action(event),
        ]
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise ConflictError(
                f"behavior {behavior.name!r} version {behavior.version} was just stored by someone else; retry"
            ) from exc

    def stage_put(self, behavior: StoredBehavior) -> TransactWriteItemTypeDef:
        # Prevents: a re-derived version and an upload (or two ticks) claiming the same version number.
        return self._table.put_action(BEHAVIORS.to_item(behavior), NEW_ITEM)
