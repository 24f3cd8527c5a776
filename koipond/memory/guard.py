"""Guard queries and each query's last evaluation in memory."""

from __future__ import annotations

from koipond.errors import NotFoundError
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite, delete, put_new
from koipond.models.guard import Evaluation, GuardQuery
from koipond.models.history import HistoryEvent

_SEEDED = "defaults"


class MemoryGuardRepository:
    def __init__(self, writes: MemoryUnitOfWork, history: MemoryHistoryRepository) -> None:
        self._writes = writes
        self._history = history
        self._queries: dict[str, GuardQuery] = {}
        self._evaluations: dict[str, Evaluation] = {}
        self._seeded: dict[str, bool] = {}

    def list_queries(self) -> list[GuardQuery]:
        with self._writes.lock:
            return [self._queries[label] for label in sorted(self._queries)]

    def get_query(self, label: str) -> GuardQuery:
        query = self._queries.get(label)
        if query is None:
            raise NotFoundError(f"no guard query labelled {label!r}", {"label": label})
        return query

    def put_query(self, query: GuardQuery, event: HistoryEvent) -> None:
        put = MemoryWrite(change=lambda: self._queries.__setitem__(query.label, query))
        self._writes.commit([put, self._history.append_action(event)])

    def delete_query(self, label: str, event: HistoryEvent) -> None:
        self.get_query(label)  # 404 for unknown labels
        self._writes.commit(
            [delete(self._queries, label), delete(self._evaluations, label), self._history.append_action(event)]
        )

    def mark_defaults_seeded(self) -> bool:
        # Prevents: two guard runs both seeding the defaults.
        return not self._writes.try_commit([put_new(self._seeded, _SEEDED, True)])

    def save_evaluation(self, evaluation: Evaluation) -> None:
        self._writes.commit([MemoryWrite(change=lambda: self._evaluations.__setitem__(evaluation.label, evaluation))])

    def last_evaluations(self, labels: list[str]) -> dict[str, Evaluation]:
        with self._writes.lock:
            return {label: self._evaluations[label] for label in labels if label in self._evaluations}
