"""The port of behaviors: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from typing import Protocol

from koipond.models.behavior import StoredBehavior
from koipond.models.history import HistoryEvent


class BehaviorRepository(Protocol):
    def latest(self, name: str) -> StoredBehavior | None: ...

    def get(self, name: str, version: int | None = None) -> StoredBehavior: ...

    def list_latest(self) -> list[StoredBehavior]: ...

    def put(self, behavior: StoredBehavior, event: HistoryEvent) -> None:
        """Store a new version.

        Raises:
            ConflictError: that version exists already (two uploads raced; re-read and retry).
        """
        ...
