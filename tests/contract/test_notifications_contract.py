"""The notification repository's contract, on DynamoDB and in memory: stored once, intents taken once, claims."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from koipond.models.history import EventKind, HistoryEvent
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.memory import InMemoryNotificationRepository
from koipond.notifications.models import DeliveryOutcome, Notification, NotificationStatus
from koipond.notifications.ports import NotificationRepository
from tests.conftest import START
from tests.contract.fixtures_tokens import IMPLEMENTATIONS, dynamo_table

LEASE = timedelta(seconds=60)


@dataclass
class Outbox:
    repo: NotificationRepository
    record_intent: Callable[[HistoryEvent], None]


@pytest.fixture(params=IMPLEMENTATIONS)
def outbox(request: pytest.FixtureRequest) -> Outbox:
    if request.param == "memory":
        memory = InMemoryNotificationRepository()
        return Outbox(memory, memory.record_intent)
    from koipond.notifications.store import DynamoNotificationRepository, intent_index_keys
    from koipond.store.items import event_to_item

    table = dynamo_table(request)

    def record_intent(event: HistoryEvent) -> None:
        # What a transition's transaction writes: the history item, marked as an intent.
        table.put({**event_to_item(event), **intent_index_keys(event)})

    return Outbox(DynamoNotificationRepository(table), record_intent)


def pending(key: str, at: datetime, route: str = "oncall", **changes: object) -> Notification:
    n = Notification(
        key=key,
        route=route,
        kind=NotificationKind.EMERGENCY_STOP_ON,
        text="stop!",
        fields={"actor": "alice"},
        status=NotificationStatus.PENDING,
        next_attempt_at=at,
        created_at=at,
    )
    return n.model_copy(update=changes)


def estop(n: int, at: datetime) -> HistoryEvent:
    return HistoryEvent(
        id=f"{at.strftime('%Y%m%dT%H%M%S%fZ')}-{n:08d}",
        subject="estop",
        kind=EventKind.ESTOP_ACTIVATED,
        actor="a",
        at=at,
    )


def test_a_notification_is_stored_once_per_event_key_and_route(outbox: Outbox) -> None:
    repo = outbox.repo
    assert repo.add(pending("estop#1", START)) is True
    assert repo.add(pending("estop#1", START, text="again")) is False
    assert repo.add(pending("estop#1", START, route="release")) is True

    assert repo.get("estop#1", "oncall") == pending("estop#1", START)
    assert repo.get("estop#2", "oncall") is None


def test_due_lists_pending_notifications_up_to_now_earliest_first(outbox: Outbox) -> None:
    repo = outbox.repo
    repo.add(pending("b", START + timedelta(seconds=2)))
    repo.add(pending("a", START + timedelta(seconds=1)))
    repo.add(pending("later", START + timedelta(seconds=30)))
    repo.add(pending("none", START, status=NotificationStatus.NO_ROUTE, next_attempt_at=None))

    assert [n.key for n in repo.due(START + timedelta(seconds=2), 10)] == ["a", "b"]
    assert [n.key for n in repo.due(START + timedelta(seconds=2), 1)] == ["a"]


def test_only_one_deliverer_claims_an_attempt(outbox: Outbox) -> None:
    repo = outbox.repo
    repo.add(pending("k", START))
    [due] = repo.due(START, 10)

    claimed = repo.claim(due, START, LEASE, "first")
    assert repo.claim(due, START, LEASE, "second") is None

    assert claimed is not None
    assert (claimed.attempts, claimed.lease_owner, claimed.next_attempt_at) == (1, "first", START + LEASE)
    assert repo.due(START + timedelta(seconds=59), 10) == []
    assert [n.key for n in repo.due(START + LEASE, 10)] == ["k"]  # the lease ran out: due again


def test_a_finished_attempt_records_its_outcome_and_a_lost_lease_records_nothing(outbox: Outbox) -> None:
    repo = outbox.repo
    repo.add(pending("k", START))
    first = repo.claim(pending("k", START), START, LEASE, "first")
    assert first is not None
    # The lease ran out and another deliverer claimed the attempt after it.
    second = repo.claim(repo.due(START + LEASE, 1)[0], START + LEASE, LEASE, "second")
    assert second is not None
    delivered = DeliveryOutcome(http_status=200, at=START + LEASE)

    assert repo.finish(first, NotificationStatus.FAILED, DeliveryOutcome(error="Timeout", at=START), None) is False
    assert repo.finish(second, NotificationStatus.DELIVERED, delivered, None) is True
    assert repo.finish(second, NotificationStatus.DELIVERED, delivered, None) is False

    stored = repo.get("k", "oncall")
    assert stored is not None
    assert (stored.status, stored.attempts, stored.delivered_at) == (NotificationStatus.DELIVERED, 2, START + LEASE)
    assert (stored.last_outcome, stored.lease_owner, stored.next_attempt_at) == (delivered, None, None)
    assert repo.due(START + timedelta(days=1), 10) == []


def test_a_retried_attempt_is_due_again_at_its_next_attempt(outbox: Outbox) -> None:
    repo = outbox.repo
    repo.add(pending("k", START))
    claimed = repo.claim(pending("k", START), START, LEASE, "me")
    assert claimed is not None
    retry_at = START + timedelta(seconds=5)

    outcome = DeliveryOutcome(http_status=503, detail="busy", at=START)
    assert repo.finish(claimed, NotificationStatus.PENDING, outcome, retry_at) is True

    [due] = repo.due(retry_at, 10)
    assert (due.attempts, due.next_attempt_at, due.last_outcome, due.delivered_at) == (1, retry_at, outcome, None)


def test_notifications_are_listed_newest_first_by_kind_and_status(outbox: Outbox) -> None:
    repo = outbox.repo
    repo.add(pending("old", START))
    repo.add(pending("new", START + timedelta(seconds=1)))
    repo.add(pending("dlq", START + timedelta(seconds=2), kind=NotificationKind.TOKEN_DLQ_NOT_EMPTY))
    repo.add(pending("quiet", START + timedelta(seconds=3), status=NotificationStatus.NO_ROUTE, next_attempt_at=None))

    assert [n.key for n in repo.list_notifications(None, None, 10)] == ["quiet", "dlq", "new", "old"]
    assert [n.key for n in repo.list_notifications(None, None, 2)] == ["quiet", "dlq"]
    estops = repo.list_notifications(NotificationKind.EMERGENCY_STOP_ON, NotificationStatus.PENDING, 10)
    assert [n.key for n in estops] == ["new", "old"]


def test_intents_wait_oldest_first_and_are_fulfilled_once(outbox: Outbox) -> None:
    repo = outbox.repo
    events = [estop(i, START + timedelta(seconds=i)) for i in range(3)]
    for event in reversed(events):
        outbox.record_intent(event)
    assert repo.intents(10) == events
    assert repo.intents(2) == events[:2]

    assert repo.fulfil([pending("estop#0", START)], events[:1]) is True
    assert repo.fulfil([pending("estop#0", START, route="release")], events[:1]) is False

    assert repo.intents(10) == events[1:]
    assert repo.get("estop#0", "release") is None
    assert repo.get("estop#0", "oncall") is not None


def test_intents_whose_notifications_exist_already_are_marked_fulfilled_without_storing_more(
    outbox: Outbox,
) -> None:
    repo = outbox.repo
    event = estop(1, START)
    outbox.record_intent(event)
    repo.add(pending("estop#1", START))

    assert (
        repo.fulfil([pending("estop#1", START, text="twice"), pending("estop#1", START, route="b")], [event]) is False
    )

    assert repo.intents(10) == []
    assert repo.get("estop#1", "oncall") == pending("estop#1", START)
    assert repo.get("estop#1", "b") is None


def test_an_episode_opens_once_is_marked_notified_and_closes(outbox: Outbox) -> None:
    repo = outbox.repo
    assert repo.episode("token_dlq") is None

    assert repo.open_episode("token_dlq", START) is True
    assert repo.open_episode("token_dlq", START + timedelta(seconds=5)) is False
    episode = repo.episode("token_dlq")
    assert episode is not None
    assert (episode.started_at, episode.notified) == (START, False)

    repo.mark_episode_notified("token_dlq")
    notified = repo.episode("token_dlq")
    assert notified is not None
    assert notified.notified

    repo.close_episode("token_dlq")
    repo.close_episode("token_dlq")
    repo.mark_episode_notified("token_dlq")
    assert repo.episode("token_dlq") is None
