"""The port of guard: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from typing import Protocol

from koipond.models.guard import Evaluation, GuardQuery
from koipond.models.history import HistoryEvent


class GuardRepository(Protocol):
    def list_queries(self) -> list[GuardQuery]: ...

    def get_query(self, label: str) -> GuardQuery: ...

    def put_query(self, query: GuardQuery, event: HistoryEvent) -> None: ...

    def delete_query(self, label: str, event: HistoryEvent) -> None: ...

    def mark_defaults_seeded(self) -> bool:
        """True the first time only: the shipped defaults are offered once, never re-added after deletion."""
        ...

    def save_evaluation(self, evaluation: Evaluation) -> None: ...

    def last_evaluations(self, labels: list[str]) -> dict[str, Evaluation]: ...
