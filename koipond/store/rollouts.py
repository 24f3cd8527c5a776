"""Rollouts in the table: versioned state, one active rollout per test, transitions as history events.

Every write is returned as transaction actions, so that a transition, its history event and the test's
scaling (see :meth:`koipond.services.loadtests.LoadTestService.change`) commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from koipond.errors import NotFoundError, StoreError
from koipond.models.cursors import history_sort_key
from koipond.models.history import HistoryEvent
from koipond.models.rollouts import Rollout, RolloutStatus
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import ROLLOUTS, event_from_item, history_pk, loadtest_pk, rollout_pk, rollouts_index
from koipond.store.schema import META, PK, SK
from koipond.store.table import NEW_ITEM, SAME_VERSION, DynamoTable, deserialize, serialize

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ACTIVE_ROLLOUT_SK = "ROLLOUT"


class DynamoRolloutRepository:
    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository) -> None:
        self._table = table
        self._history = history

    def get(self, rollout_id: str) -> Rollout:
        item = self._table.get(rollout_pk(rollout_id), META)
        if item is None:
            raise NotFoundError(f"no rollout with id {rollout_id!r}", {"rollout_id": rollout_id})
        return ROLLOUTS.from_item(item)

    def list_by_status(self, status: RolloutStatus | None = None) -> list[Rollout]:
        items = self._table.query_newest(rollouts_index(st) for st in ([status] if status else list(RolloutStatus)))
        return sorted(map(ROLLOUTS.from_item, items), key=lambda r: r.created_at, reverse=True)

    def active_for_test(self, test_id: str) -> str | None:
        item = self._table.get(loadtest_pk(test_id), ACTIVE_ROLLOUT_SK)
        return None if item is None else str(item["rollout_id"])

    def create_actions(self, rollout: Rollout, event: HistoryEvent) -> list[TransactWriteItemTypeDef]:
        marker = {PK: loadtest_pk(rollout.test_id), SK: ACTIVE_ROLLOUT_SK, "rollout_id": rollout.id}
        return [
            # Prevents: two creates racing on the same id (ids are random, but never overwrite).
            self._table.put_action(ROLLOUTS.to_item(rollout), NEW_ITEM),
            # Prevents: two rollouts driving one test at once (each would scale it to its own stages).
            self._table.put_action(marker, NEW_ITEM),
            self._history.append_action(event),
        ]

    def save_actions(
        self, rollout: Rollout, expected_version: int, event: HistoryEvent
    ) -> list[TransactWriteItemTypeDef]:
        stored, item = ROLLOUTS.next_version(rollout, expected_version)
        # Prevents: two ticks (or a tick and a person) both moving the rollout from the same state, e.g. a
        # double advance that would skip a stage.
        put = self._table.put_action(item, SAME_VERSION, {":expected": expected_version})
        actions = [put, self._history.append_action(event)]
        if stored.status.finished:
            # A finished rollout frees its test for the next one, in the same write that finishes it.
            actions.append(self._table.delete_action(loadtest_pk(rollout.test_id), ACTIVE_ROLLOUT_SK))
        return actions

    def test_unchanged_action(self, test_id: str, version: int) -> TransactWriteItemTypeDef:
        # Prevents: committing a transition decided on a test that someone changed (stopped, scaled) meanwhile.
        return self._table.check_action(loadtest_pk(test_id), META, SAME_VERSION, {":expected": version})

    def transitions(self, rollout_id: str) -> list[HistoryEvent]:
        return self._history.list_events(rollout_id)

    def events_since(self, subject: str, since: datetime) -> list[HistoryEvent]:
        args: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "#pk = :pk AND #sk >= :since",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": serialize({":pk": history_pk(subject), ":since": history_sort_key(since)}),
            "ConsistentRead": True,
        }
        events: list[HistoryEvent] = []
        while True:
            try:
                page = self._table.client.query(**args)
            except (ClientError, BotoCoreError) as exc:
                raise StoreError(f"reading the history of {subject} failed: {exc}") from exc
            events.extend(event_from_item(deserialize(raw)) for raw in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return events
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
