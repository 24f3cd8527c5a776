"""The port of behaviors: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from typing import Protocol

from koipond.models.behavior import StoredBehavior
from koipond.models.history import HistoryEvent


class BehaviorRepository(Protocol):
    def latest(self, name: str) -> StoredBehavior | None:
        """The highest version of ``name``; None when no version exists."""
        ...

    def get(self, name: str, version: int | None = None) -> StoredBehavior:
        """One version of ``name`` (the latest when None).

        Raises:
            NotFoundError: no such behavior, or no such version of it.
        """
        ...

    def list_latest(self) -> list[StoredBehavior]:
        """The latest version of every behavior, by name."""
        ...

    def put(self, behavior: StoredBehavior, event: HistoryEvent) -> None:
        """Store a new version, with its history event.

        Raises:
            ConflictError: that version exists already (two uploads raced; re-read and retry).
        """
        ...
