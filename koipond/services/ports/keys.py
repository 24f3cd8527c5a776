"""The port of keys: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from typing import Protocol

from koipond.models.auth import ApiKey
from koipond.models.history import HistoryEvent


class ApiKeyRepository(Protocol):
    def find(self, key_id: str) -> ApiKey | None:
        """The key with this id (revoked ones too); None when there is none."""
        ...

    def get(self, key_id: str) -> ApiKey:
        """The key with this id (revoked ones too).

        Raises:
            NotFoundError: no key has this id.
        """
        ...

    def list_all(self) -> list[ApiKey]:
        """Every key, revoked ones too, by id."""
        ...

    def create(self, key: ApiKey, event: HistoryEvent | None) -> None:
        """Store a new key (with its history event, if any).

        Raises:
            ConflictError: a key with this id exists (also how a bootstrap key stays revoked).
        """
        ...

    def save(self, key: ApiKey, event: HistoryEvent, *, while_active: str | None = None) -> None:
        """Store a changed key with its history event; with ``while_active``, only if that key is still active.

        Raises:
            ConflictError: the key ``while_active`` names is gone, revoked, or changed while saving.
        """
        ...

    def delete(self, key_id: str) -> None:
        """Remove a key's item (deleting a missing key is not an error)."""
        ...
