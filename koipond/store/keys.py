"""API keys: stored by id with only a hash of their secret."""

from __future__ import annotations

from koipond.errors import ConflictError, NotFoundError
from koipond.models.auth import ApiKey
from koipond.models.history import HistoryEvent
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import KEYS_INDEX, key_from_item, key_pk, key_to_item
from koipond.store.schema import META
from koipond.store.table import NEW_ITEM, ConditionFailed, DynamoTable


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
        """Store a new key.

        Raises:
            ConflictError: a key with this id exists (also how a bootstrap key stays revoked).
        """
        # Prevents: overwriting an existing key, which would un-revoke it.
        actions = [self._table.put_action(key_to_item(key), NEW_ITEM)]
        if event is not None:
            actions.append(self._history.append_action(event))
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise ConflictError(f"API key {key.id!r} already exists") from exc

    def save(self, key: ApiKey, event: HistoryEvent) -> None:
        self._table.transact([self._table.put_action(key_to_item(key)), self._history.append_action(event)])
