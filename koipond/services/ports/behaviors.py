"""The port of behaviors: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from typing import Protocol

from koipond.models.behavior import StoredBehavior
from koipond.models.history import HistoryEvent
from koipond.services.ports.writes import StagedWrite


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

    def versions_page(
        self, name: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[StoredBehavior], str | None]:
        """One page of ``name``'s versions, newest first.

        Args:
            name: the behavior.
            limit: most versions returned (at least 1).
            cursor: the ``next_cursor`` of the previous page; None for the first page.

        Returns:
            The versions (none for a behavior never stored), and the cursor of the next page (None when
            no version is left).

        Raises:
            BadRequestError: the cursor is not one of this behavior's listing.
        """
        ...

    def put(self, behavior: StoredBehavior, event: HistoryEvent) -> None:
        """Store a new version, with its history event.

        Raises:
            ConflictError: that version exists already (two uploads raced; re-read and retry).
        """
        ...

    def stage_put(self, behavior: StoredBehavior) -> StagedWrite:
        """A write storing a new version, only if that version does not exist yet (for ``also=`` of another write)."""
        ...
