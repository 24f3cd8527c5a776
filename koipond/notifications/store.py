"""The notification outbox and the token-DLQ episode in the table; each delivery is claimed before it is sent.

Items:

| item         | pk                        | sk               | gsi1pk                     | gsi1sk                   |
|--------------|---------------------------|------------------|----------------------------|--------------------------|
| notification | ``NOTIFY#<event key>``    | ``ROUTE#<name>`` | ``NOTIFICATIONS#<status>`` | ``<time>#<key>#<route>`` |
| DLQ episode  | ``NOTIFY-EPISODE#<name>`` | ``META``         |                            |                          |
| intent       | (a history event's)       |                  | ``NOTIFY-INTENTS``         | ``<event id>``           |

An *intent* is not an item of its own: a history event that should notify (see
:mod:`koipond.notifications.intents`) is written with the two index attributes above, in the transition's
own transaction, which makes it a member of a sparse "events to notify" partition of the index. The release
tick expands each into its outbox items and removes the two attributes in one transaction (the event itself
is never rewritten), so an intent is fulfilled exactly once whichever process dies when.

``<time>`` is the next attempt while pending, the creation time otherwise.
A notification item holds ``kind``, ``text``, ``fields`` (map of strings), ``route`` (its name, never
its URL), ``status`` (pending, delivered, failed, no_route), ``attempts``, ``next_attempt_at``,
``created_at``, ``delivered_at``, the last outcome (``last_http_status``, ``last_error`` — an error
class —, ``last_detail``, ``last_at``), ``lease_owner`` while a deliverer holds it, and
``expires_at`` (TTL, 30 days). Pending items sort by their next attempt, so "what is due" is one
range Query; claiming one moves its next attempt to the lease's end, so a deliverer that dies
mid-send leaves it due again once the lease runs out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from koipond.errors import StoreError, TransactionConflictError
from koipond.models.history import HistoryEvent
from koipond.notifications.intents import LoadTestFacts, notification_kind
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import DeliveryOutcome, Episode, Notification, NotificationStatus, stamp
from koipond.store.items import LOADTESTS, event_from_item, history_pk, loadtest_pk
from koipond.store.schema import GSI1, GSI1_PK, GSI1_SK, META, PK, SK, TTL_ATTRIBUTE
from koipond.store.table import NEW_ITEM, ConditionFailed, DynamoTable, deserialize, serialize

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Item = dict[str, Any]

RETENTION = timedelta(days=30)
INTENTS_INDEX = "NOTIFY-INTENTS"
# Partition keys stay far below DynamoDB's 2048 bytes; longer event keys are hashed.
_MAX_KEY = 512
_NAMES = {
    "#owner": "lease_owner",
    "#next": "next_attempt_at",
    "#attempts": "attempts",
    "#gpk": GSI1_PK,
    "#gsk": GSI1_SK,
    "#hs": "last_http_status",
    "#err": "last_error",
    "#detail": "last_detail",
    "#lat": "last_at",
    "#dat": "delivered_at",
}
# Prevents: two deliverers (overlapping ticks) claiming the same attempt; the second sees a new next_attempt_at.
UNCLAIMED = "#status = :pending AND #next = :seen"
# Prevents: a deliverer whose lease ran out (and was re-claimed) overwriting the newer attempt's outcome.
STILL_OURS = "#status = :pending AND #owner = :owner AND #attempts = :attempts"
# Prevents: two ticks both opening a DLQ episode (and both notifying).
NO_EPISODE = "attribute_not_exists(#pk)"
# Prevents: two ticks expanding the same intent (the second's whole transaction, outbox items included, fails).
INTENT_WAITING = "attribute_exists(#gpk)"


def notification_pk(key: str) -> str:
    if len(key) > _MAX_KEY:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return f"NOTIFY#{key}"


def intent_index_keys(event: HistoryEvent) -> Item:
    """The attributes that make ``event``'s history item a notification intent; empty when it notifies nobody."""
    if notification_kind(event) is None:
        return {}
    return {GSI1_PK: INTENTS_INDEX, GSI1_SK: event.id}


def status_index(status: NotificationStatus) -> str:
    return f"NOTIFICATIONS#{status.value}"


def notification_to_item(n: Notification) -> Item:
    order = n.next_attempt_at if n.status is NotificationStatus.PENDING and n.next_attempt_at else n.created_at
    outcome = n.last_outcome
    return {
        PK: notification_pk(n.key),
        SK: f"ROUTE#{n.route}",
        GSI1_PK: status_index(n.status),
        GSI1_SK: f"{stamp(order)}#{n.key}#{n.route}",
        "key": n.key,
        "route": n.route,
        "kind": n.kind.value,
        "text": n.text,
        "fields": dict(n.fields),
        "status": n.status.value,
        "attempts": n.attempts,
        "next_attempt_at": stamp(n.next_attempt_at) if n.next_attempt_at else None,
        "created_at": stamp(n.created_at),
        "delivered_at": stamp(n.delivered_at) if n.delivered_at else None,
        "last_http_status": outcome.http_status if outcome else None,
        "last_error": outcome.error if outcome else None,
        "last_detail": outcome.detail if outcome else None,
        "last_at": stamp(outcome.at) if outcome else None,
        TTL_ATTRIBUTE: int((n.created_at + RETENTION).timestamp()),
    }


def notification_from_item(item: Item) -> Notification:
    last_at = item.get("last_at")
    outcome = None
    if last_at:
        outcome = DeliveryOutcome(
            http_status=item.get("last_http_status"),
            error=item.get("last_error"),
            detail=item.get("last_detail"),
            at=datetime.fromisoformat(last_at),
        )
    return Notification(
        key=item["key"],
        route=item["route"],
        kind=NotificationKind(item["kind"]),
        text=item["text"],
        fields=dict(item.get("fields") or {}),
        status=NotificationStatus(item["status"]),
        attempts=int(item.get("attempts", 0)),
        next_attempt_at=_time(item.get("next_attempt_at")),
        created_at=datetime.fromisoformat(item["created_at"]),
        delivered_at=_time(item.get("delivered_at")),
        last_outcome=outcome,
        lease_owner=item.get("lease_owner"),
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _outcome_update(attributes: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """SET the attributes that have a value and REMOVE those that are None (a stale value would mislead)."""
    sets = [f"{name} = :v{name[1:]}" for name, value in attributes.items() if value is not None]
    removes = [name for name, value in attributes.items() if value is None]
    values = {f":v{name[1:]}": value for name, value in attributes.items() if value is not None}
    return f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else ""), values


class DynamoNotificationRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def add(self, notification: Notification) -> bool:
        # Prevents: a caller's retry (or two Keepers handling one event) storing, and so sending, it twice.
        try:
            self._table.transact([self._table.put_action(notification_to_item(notification), NEW_ITEM)])
        except ConditionFailed:
            return False
        return True

    def intents(self, limit: int) -> list[HistoryEvent]:
        items = self._index_pages(INTENTS_INDEX, ascending=True)
        return [event_from_item(i) for i, _ in zip(items, range(limit), strict=False)]

    def fulfil(self, notifications: Sequence[Notification], events: Sequence[HistoryEvent]) -> bool:
        puts = [self._table.put_action(notification_to_item(n), NEW_ITEM) for n in notifications]
        done = [self._fulfil_action(e) for e in events]
        try:
            self._table.transact([*puts, *done])
        except ConditionFailed:
            # Either another tick fulfilled an intent (then this fails too, and rightly) or the outbox holds
            # these keys already (a Keeper of an older release notified directly): then only mark them.
            self._mark_fulfilled(done)
            return False
        except TransactionConflictError:
            return False  # another tick is fulfilling the same intents right now: looked at again next tick
        return True

    def _mark_fulfilled(self, done: Sequence[TransactWriteItemTypeDef]) -> None:
        try:
            self._table.transact(done)
        except (ConditionFailed, TransactionConflictError):
            return

    def _fulfil_action(self, event: HistoryEvent) -> TransactWriteItemTypeDef:
        # Removes only the index attributes: the event's own content stays as it was appended.
        return self._table.update_action(
            history_pk(event.subject), event.id, "REMOVE #gpk, #gsk", INTENT_WAITING, None, _NAMES
        )

    def get(self, key: str, route: str) -> Notification | None:
        item = self._table.get(notification_pk(key), f"ROUTE#{route}")
        return notification_from_item(item) if item else None

    def due(self, now: datetime, limit: int) -> list[Notification]:
        upper = f"{stamp(now)}~"  # '~' sorts after '#', so items due exactly now are included
        items = self._index_pages(status_index(NotificationStatus.PENDING), ascending=True, upper=upper)
        return [notification_from_item(i) for i, _ in zip(items, range(limit), strict=False)]

    def claim(self, n: Notification, now: datetime, lease: timedelta, owner: str) -> Notification | None:
        assert n.next_attempt_at is not None
        lease_end = now + lease
        update = "SET #owner = :owner, #next = :lease_end, #gsk = :lease_sk ADD #attempts :one"
        values = {
            ":owner": owner,
            ":lease_end": stamp(lease_end),
            ":lease_sk": f"{stamp(lease_end)}#{n.key}#{n.route}",
            ":one": 1,
            ":pending": NotificationStatus.PENDING.value,
            ":seen": stamp(n.next_attempt_at),
        }
        try:
            self._update(n, update, UNCLAIMED, values)
        except ConditionFailed:
            return None
        return n.model_copy(update={"attempts": n.attempts + 1, "next_attempt_at": lease_end, "lease_owner": owner})

    def finish(
        self,
        claimed: Notification,
        status: NotificationStatus,
        outcome: DeliveryOutcome,
        next_attempt_at: datetime | None,
    ) -> bool:
        order = next_attempt_at if status is NotificationStatus.PENDING and next_attempt_at else claimed.created_at
        update, values = _outcome_update(
            {
                "#gpk": status_index(status),
                "#gsk": f"{stamp(order)}#{claimed.key}#{claimed.route}",
                "#status": status.value,
                "#lat": stamp(outcome.at),
                "#next": stamp(next_attempt_at) if next_attempt_at else None,
                "#hs": outcome.http_status,
                "#err": outcome.error,
                "#detail": outcome.detail,
                "#dat": stamp(outcome.at) if status is NotificationStatus.DELIVERED else None,
                "#owner": None,
            }
        )
        values.update({":pending": NotificationStatus.PENDING.value, ":owner": claimed.lease_owner})
        values[":attempts"] = claimed.attempts
        try:
            self._update(claimed, update, STILL_OURS, values)
        except ConditionFailed:
            return False
        return True

    def _update(self, n: Notification, update: str, condition: str, values: dict[str, Any]) -> None:
        action = self._table.update_action(
            notification_pk(n.key), f"ROUTE#{n.route}", update, condition, values, _NAMES
        )
        self._table.transact([action])

    def list_notifications(
        self, kind: NotificationKind | None, status: NotificationStatus | None, limit: int
    ) -> list[Notification]:
        statuses = [status] if status else list(NotificationStatus)
        found: list[Notification] = []
        for one in statuses:
            # Pending items sort by next attempt, not creation: read a bounded number and sort them.
            bound = 500 if one is NotificationStatus.PENDING else limit
            taken = 0
            for item in self._index_pages(status_index(one), ascending=one is NotificationStatus.PENDING):
                if kind is None or item.get("kind") == kind.value:
                    found.append(notification_from_item(item))
                    taken += 1
                    if taken >= bound:
                        break
        found.sort(key=lambda n: (n.created_at, n.key, n.route), reverse=True)
        return found[:limit]

    def _index_pages(self, pk: str, *, ascending: bool, upper: str | None = None) -> Iterator[Item]:
        condition = "#pk = :pk" + (" AND #sk <= :upper" if upper else "")
        args: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": GSI1,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#pk": GSI1_PK, **({"#sk": GSI1_SK} if upper else {})},
            "ExpressionAttributeValues": serialize({":pk": pk, ":upper": upper}),
            "ScanIndexForward": ascending,
            "Limit": 100,
        }
        while True:
            try:
                page = self._table.client.query(**args)
            except (ClientError, BotoCoreError) as exc:
                raise StoreError(f"query of {pk} failed: {exc}") from exc
            yield from (deserialize(raw) for raw in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def episode(self, name: str) -> Episode | None:
        item = self._table.get(f"NOTIFY-EPISODE#{name}", META)
        if item is None:
            return None
        return Episode(started_at=datetime.fromisoformat(item["started_at"]), notified=bool(item.get("notified")))

    def open_episode(self, name: str, started_at: datetime) -> bool:
        item = {PK: f"NOTIFY-EPISODE#{name}", SK: META, "started_at": stamp(started_at), "notified": False}
        try:
            self._table.transact([self._table.put_action(item, NO_EPISODE)])
        except ConditionFailed:
            return False
        return True

    def mark_episode_notified(self, name: str) -> None:
        action = self._table.update_action(
            f"NOTIFY-EPISODE#{name}",
            META,
            "SET #notified = :yes",
            "attribute_exists(#pk)",
            {":yes": True},
            {"#notified": "notified"},
        )
        try:
            self._table.transact([action])
        except ConditionFailed:
            return  # closed meanwhile: nothing left to mark

    def close_episode(self, name: str) -> None:
        self._table.transact([self._table.delete_action(f"NOTIFY-EPISODE#{name}", META)])


def loadtest_facts(table: DynamoTable, test_ids: Sequence[str]) -> dict[str, LoadTestFacts]:
    """The name and size of each test an intent names, read in one batch (unknown ids are left out)."""
    tests = [LOADTESTS.from_item(item) for item in table.batch_get([(loadtest_pk(i), META) for i in set(test_ids)])]
    return {t.id: LoadTestFacts(name=t.name, koi=t.koi) for t in tests}
