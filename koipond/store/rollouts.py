"""Rollouts in the table: versioned state, one active rollout per test, transitions as history events.

Every write is returned as transaction actions, so that a transition, its history event and the test's
scaling (see :meth:`koipond.services.loadtests.LoadTestService.change`) commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from koipond.errors import ConflictError, NotFoundError, StaleVersionError, StoreError
from koipond.models.history import HistoryEvent
from koipond.models.rollouts import Rollout, RolloutStatus
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import event_from_item, history_pk, loadtest_pk
from koipond.store.schema import DOC, GSI1_PK, GSI1_SK, META, PK, SK, VERSION
from koipond.store.table import NEW_ITEM, SAME_VERSION, ConditionFailed, DynamoTable, deserialize, serialize

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ACTIVE_ROLLOUT_SK = "ROLLOUT"


def rollout_pk(rollout_id: str) -> str:
    return f"ROLLOUT#{rollout_id}"


def rollouts_index(status: RolloutStatus) -> str:
    return f"ROLLOUTS#{status.value}"


def rollout_to_item(rollout: Rollout) -> dict[str, Any]:
    return {
        PK: rollout_pk(rollout.id),
        SK: META,
        GSI1_PK: rollouts_index(rollout.status),
        GSI1_SK: f"{rollout.created_at.isoformat()}#{rollout.id}",
        VERSION: rollout.version,
        DOC: rollout.model_dump_json(),
    }


def rollout_from_item(item: dict[str, Any]) -> Rollout:
    return Rollout.model_validate_json(item[DOC]).model_copy(update={"version": item[VERSION]})


def history_sort_key(at: datetime) -> str:
    """The smallest history sort key at or after ``at`` (event ids start with their time, see koipond.ids)."""
    return at.strftime("%Y%m%dT%H%M%S%fZ")


class DynamoRolloutRepository:
    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository) -> None:
        self._table = table
        self._history = history

    def get(self, rollout_id: str) -> Rollout:
        item = self._table.get(rollout_pk(rollout_id), META)
        if item is None:
            raise NotFoundError(f"no rollout with id {rollout_id!r}", {"rollout_id": rollout_id})
        return rollout_from_item(item)

    def list_by_status(self, status: RolloutStatus | None = None) -> list[Rollout]:
        """Rollouts by status (all when None), newest first; reads the index, so eventually consistent."""
        statuses = [status] if status else list(RolloutStatus)
        found = [
            rollout_from_item(item)
            for st in statuses
            for item in self._table.query(rollouts_index(st), index=True, ascending=False)
        ]
        return sorted(found, key=lambda r: r.created_at, reverse=True)

    def active_for_test(self, test_id: str) -> str | None:
        """The id of the rollout driving ``test_id`` now, if any."""
        item = self._table.get(loadtest_pk(test_id), ACTIVE_ROLLOUT_SK)
        return None if item is None else str(item["rollout_id"])

    def create_actions(self, rollout: Rollout, event: HistoryEvent) -> list[TransactWriteItemTypeDef]:
        marker = {PK: loadtest_pk(rollout.test_id), SK: ACTIVE_ROLLOUT_SK, "rollout_id": rollout.id}
        return [
            # Prevents: two creates racing on the same id (ids are random, but never overwrite).
            self._table.put_action(rollout_to_item(rollout), NEW_ITEM),
            # Prevents: two rollouts driving one test at once (each would scale it to its own stages).
            self._table.put_action(marker, NEW_ITEM),
            self._history.append_action(event),
        ]

    def save_actions(
        self, rollout: Rollout, expected_version: int, event: HistoryEvent
    ) -> list[TransactWriteItemTypeDef]:
        """Actions storing ``rollout`` as version ``expected_version + 1`` with its transition's event."""
        stored = rollout.model_copy(update={"version": expected_version + 1})
        # Prevents: two ticks (or a tick and a person) both moving the rollout from the same state, e.g. a
        # double advance that would skip a stage.
        put = self._table.put_action(rollout_to_item(stored), SAME_VERSION, {":expected": expected_version})
        actions = [put, self._history.append_action(event)]
        if stored.status.finished:
            # A finished rollout frees its test for the next one, in the same write that finishes it.
            actions.append(self._table.delete_action(loadtest_pk(rollout.test_id), ACTIVE_ROLLOUT_SK))
        return actions

    def test_unchanged_action(self, test_id: str, version: int) -> TransactWriteItemTypeDef:
        # Prevents: committing a transition decided on a test that someone changed (stopped, scaled) meanwhile.
        return self._table.check_action(loadtest_pk(test_id), META, SAME_VERSION, {":expected": version})

    def transact(self, actions: Sequence[TransactWriteItemTypeDef], rollout_id: str) -> None:
        """Write ``actions`` (from this repository) alone.

        Raises:
            StaleVersionError: a condition failed (the rollout, its test or the test's active rollout changed).
        """
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise StaleVersionError(
                f"rollout {rollout_id!r} or its test changed meanwhile; read it again and retry",
                {"rollout_id": rollout_id},
            ) from exc

    def transitions(self, rollout_id: str) -> list[HistoryEvent]:
        return self._history.list_events(rollout_id)

    def events_since(self, subject: str, since: datetime) -> list[HistoryEvent]:
        """``subject``'s history events at or after ``since``, oldest first (one Query, not the whole history)."""
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


def conflict_for_existing(test_id: str, rollout_id: str) -> ConflictError:
    return ConflictError(
        f"test {test_id!r} is driven by rollout {rollout_id!r} already; abort it first",
        {"test_id": test_id, "rollout_id": rollout_id},
    )
