"""The port of guard: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from typing import Protocol

from koipond.models.guard import Evaluation, GuardQuery
from koipond.models.history import HistoryEvent


class GuardRepository(Protocol):
    def list_queries(self) -> list[GuardQuery]:
        """Every guard query, by label."""
        ...

    def get_query(self, label: str) -> GuardQuery:
        """The query labelled ``label``.

        Raises:
            NotFoundError: no query has this label.
        """
        ...

    def put_query(self, query: GuardQuery, event: HistoryEvent) -> None:
        """Create or replace the query of ``query.label``, with its history event."""
        ...

    def delete_query(self, label: str, event: HistoryEvent) -> None:
        """Remove a query and its last evaluation, with its history event.

        Raises:
            NotFoundError: no query has this label.
        """
        ...

    def mark_defaults_seeded(self) -> bool:
        """True the first time only: the shipped defaults are offered once, never re-added after deletion."""
        ...

    def save_evaluation(self, evaluation: Evaluation) -> None:
        """Keep ``evaluation`` as its query's last one (replacing the one before)."""
        ...

    def last_evaluations(self, labels: list[str]) -> dict[str, Evaluation]:
        """The last evaluation of each of ``labels`` (labels never evaluated are left out)."""
        ...
