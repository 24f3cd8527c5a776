"""The port of history: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from koipond.models.history import HistoryEvent
from koipond.services.ports.writes import StagedWrite


class HistoryRepository(Protocol):
    def append_action(self, event: HistoryEvent) -> StagedWrite:
        """A write appending ``event`` (never overwriting an event with the same id)."""
        ...

    def append(self, event: HistoryEvent) -> None:
        """Append ``event`` on its own."""
        ...

    def list_events(
        self, subject: str, *, newest_first: bool = False, limit: int | None = None, now: datetime | None = None
    ) -> list[HistoryEvent]:
        """A subject's events; with ``now``, the expired ones are left out."""
        ...

    def page(
        self, subject: str, *, limit: int, cursor: str | None = None, newest_first: bool = False, now: datetime
    ) -> tuple[list[HistoryEvent], str | None]:
        """One page of a subject's unexpired events.

        Args:
            subject: whose history.
            limit: most events returned (at least 1).
            cursor: the ``next_cursor`` of the previous page; None for the first page.
            newest_first: the order of the listing (a cursor keeps the order it was made in).
            now: events that expired before it are left out.

        Returns:
            The events, and the cursor of the next page (None when no event is left).

        Raises:
            BadRequestError: the cursor is not one of this listing's.
        """
        ...
