"""API keys in memory: stored by id with only a hash of their secret."""

from __future__ import annotations

from koipond.errors import ConflictError, NotFoundError
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite, delete, put_new
from koipond.models.auth import ApiKey
from koipond.models.history import HistoryEvent


class MemoryApiKeyRepository:
    def __init__(self, writes: MemoryUnitOfWork, history: MemoryHistoryRepository) -> None:
        self._writes = writes
        self._history = history
        self._keys: dict[str, ApiKey] = {}

    def find(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    def get(self, key_id: str) -> ApiKey:
        key = self.find(key_id)
        if key is None:
            raise NotFoundError(f"no API key with id {key_id!r}", {"key_id": key_id})
        return key

    def list_all(self) -> list[ApiKey]:
        with self._writes.lock:
            return [self._keys[key_id] for key_id in sorted(self._keys)]

    def create(self, key: ApiKey, event: HistoryEvent | None) -> None:
        # Prevents: overwriting an existing key, which would un-revoke it.
        writes = [put_new(self._keys, key.id, key)]
        if event is not None:
            writes.append(self._history.append_action(event))
        if self._writes.try_commit(writes):
            raise ConflictError(f"API key {key.id!r} already exists")

    def save(self, key: ApiKey, event: HistoryEvent, *, while_active: str | None = None) -> None:
        writes = [MemoryWrite(change=lambda: self._keys.__setitem__(key.id, key)), self._history.append_action(event)]
        if while_active is not None:
            other = self._keys.get(while_active)
            if other is None or other.revoked:
                raise ConflictError(f"API key {while_active!r} was revoked meanwhile; try again", {"key_id": key.id})
            # Prevents: two admins revoking each other's keys at the same moment, leaving no admin key;
            # the other key must still be exactly as read (not revoked) when this write commits.
            writes.append(MemoryWrite(change=lambda: None, holds=lambda: self._keys.get(while_active) == other))
        if self._writes.try_commit(writes):
            raise ConflictError(f"API key {while_active!r} changed meanwhile; try again", {"key_id": key.id})

    def delete(self, key_id: str) -> None:
        self._writes.commit([delete(self._keys, key_id)])
