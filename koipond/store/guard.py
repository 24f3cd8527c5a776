"""Guard queries and each query's last evaluation."""

from __future__ import annotations

from koipond.errors import NotFoundError
from koipond.models.guard import Evaluation, GuardQuery
from koipond.models.history import HistoryEvent
from koipond.store.history import DynamoHistoryRepository
from koipond.store.schema import DOC, GSI1_PK, GSI1_SK, META, PK, SK
from koipond.store.table import NEW_ITEM, ConditionFailed, DynamoTable

QUERIES_INDEX = "GUARDQ"
EVALUATION_SK = "EVAL"
SEEDED_PK = "GUARD_DEFAULTS"


def _pk(label: str) -> str:
    return f"GUARDQ#{label}"


class DynamoGuardRepository:
    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository) -> None:
        self._table = table
        self._history = history

    def list_queries(self) -> list[GuardQuery]:
        return [GuardQuery.model_validate_json(i[DOC]) for i in self._table.query(QUERIES_INDEX, index=True)]

    def get_query(self, label: str) -> GuardQuery:
        item = self._table.get(_pk(label), META)
        if item is None:
            raise NotFoundError(f"no guard query labelled {label!r}", {"label": label})
        return GuardQuery.model_validate_json(item[DOC])

    def put_query(self, query: GuardQuery, event: HistoryEvent) -> None:
        item = {
            PK: _pk(query.label),
            SK: META,
            GSI1_PK: QUERIES_INDEX,
            GSI1_SK: query.label,
            DOC: query.model_dump_json(),
        }
        self._table.transact([self._table.put_action(item), self._history.append_action(event)])

    def delete_query(self, label: str, event: HistoryEvent) -> None:
        self.get_query(label)  # 404 for unknown labels
        self._table.transact(
            [
                self._table.delete_action(_pk(label), META),
                self._table.delete_action(_pk(label), EVALUATION_SK),
                self._history.append_action(event),
            ]
        )

    def mark_defaults_seeded(self) -> bool:
        try:
            # Prevents: two guard runs both seeding the defaults.
            self._table.transact([self._table.put_action({PK: SEEDED_PK, SK: META}, NEW_ITEM)])
        except ConditionFailed:
            return False
        return True

    def save_evaluation(self, evaluation: Evaluation) -> None:
        item = {PK: _pk(evaluation.label), SK: EVALUATION_SK, DOC: evaluation.model_dump_json()}
        self._table.transact([self._table.put_action(item)])

    def last_evaluations(self, labels: list[str]) -> dict[str, Evaluation]:
        items = self._table.batch_get([(_pk(label), EVALUATION_SK) for label in labels])
        found = [Evaluation.model_validate_json(i[DOC]) for i in items]
        return {e.label: e for e in found}
