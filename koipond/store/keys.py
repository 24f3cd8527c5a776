"""API keys: stored by id with only a hash of their secret."""

from __future__ import annotations

from koipond.errors import ConflictError, NotFoundError
from koipond.models.auth import ApiKey
from koipond.models.history import HistoryEvent
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import KEYS_INDEX, key_from_item, key_pk, key_to_item
from koipond.store.schema import DOC, META
from koipond.store.table import NEW_ITEM, ConditionFailed, DynamoTable

_UNCHANGED_DOC = "#doc = :doc"


class DynamoApiKeyRepository:
    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository) -> None:
        self._table = table
        self._history = history

    def find(self, key_id: str) -> ApiKey | None:
        item = self._table.get(key_pk(key_id), META)
        return key_from_item(item) if item else None

    def get(self, key_id: str) -> ApiKey:
        key = self.find(key_id)
        if key is None:
            raise NotFoundError(f"no API key with id {key_id!r}", {"key_id": key_id})
        return key

    def list_all(self) -> list[ApiKey]:
        return [key_from_item(item) for item in self._table.query(KEYS_INDEX, index=True)]

    def create(self, key: ApiKey, event: HistoryEvent | None) -> None:
        # Prevents: overwriting an existing key, which would un-revoke it.
        actions = [self._table.put_action(key_to_item(key), NEW_ITEM)]
        if event is not None:
            actions.append(self._history.append_action(event))
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise ConflictError(f"API key {key.id!r} already exists") from exc

    def save(self, key: ApiKey, event: HistoryEvent, *, while_active: str | None = None) -> None:
        actions = [self._table.put_action(key_to_item(key)), self._history.append_action(event)]
        if while_active is not None:
            item = self._table.get(key_pk(while_active), META)
            if item is None or key_from_item(item).revoked:
                raise ConflictError(f"API key {while_active!r} was revoked meanwhile; try again", {"key_id": key.id})
            # Prevents: two admins revoking each other's keys at the same moment, leaving no admin key;
            # the other key must still be exactly as read (not revoked) when this write commits.
            condition = self._table.check_action(
                key_pk(while_active), META, _UNCHANGED_DOC, {":doc": item[DOC]}, {"#doc": DOC}
            )
            actions.append(condition)
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise ConflictError(f"API key {while_active!r} changed meanwhile; try again", {"key_id": key.id}) from exc

    def delete(self, key_id: str) -> None:
        self._table.transact([self._table.delete_action(key_pk(key_id), META)])
