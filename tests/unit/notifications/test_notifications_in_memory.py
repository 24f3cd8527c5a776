"""The notifications feature over the in-memory outbox: intents expanded once, delivery retried, one DLQ notice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from koipond.clock import FixedClock
from koipond.errors import StoreError
from koipond.models.history import AUTO_RESUME_ACTOR, EventKind, HistoryEvent
from koipond.notifications.config import NotificationConfig, Route
from koipond.notifications.delivery import RECORD_RETRY_DELAYS, NotificationDeliverer
from koipond.notifications.expansion import IntentExpander
from koipond.notifications.intents import LoadTestFacts
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.memory import InMemoryLoadTests, InMemoryNotificationRepository
from koipond.notifications.models import NotificationStatus
from koipond.notifications.outbox import OutboxNotifier
from koipond.notifications.token_dlq import TokenDlqWatcher
from koipond.tokens.models import DlqSummary

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HOOK = "https://hooks.slack.com/triggers/T/1/hush"


class Routes:
    def current(self) -> NotificationConfig:
        kinds = [
            NotificationKind.EMERGENCY_STOP_ON,
            NotificationKind.TOKEN_DLQ_NOT_EMPTY,
            NotificationKind.AUTOMATIC_RESUME,
        ]
        return NotificationConfig(routes=[Route(name="release", type="workflow", url=HOOK, kinds=kinds)])


class Slack:
    """A webhook that answers each POST with the next status in ``statuses`` and keeps what it got."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.posted: list[dict[str, str]] = []

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self._answer))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.posted.append(json.loads(request.content))
        return httpx.Response(self.statuses.pop(0))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def repo() -> InMemoryNotificationRepository:
    return InMemoryNotificationRepository()


def deliverer(repo: InMemoryNotificationRepository, clock: FixedClock, slack: Slack) -> NotificationDeliverer:
    tests = InMemoryLoadTests({"lt-1": LoadTestFacts(name="nightly", koi=2000)})
    intents = IntentExpander(repo, Routes(), clock, tests)
    return NotificationDeliverer(repo, Routes(), clock, http_factory=slack.client, intents=intents)


def test_an_intent_is_expanded_once_and_delivered_after_a_retry(
    repo: InMemoryNotificationRepository, clock: FixedClock
) -> None:
    at = clock.now()
    resumed = HistoryEvent(
        id=f"{at:%Y%m%dT%H%M%S%fZ}-00000001",
        subject="lt-1",
        kind=EventKind.TEST_RESUMED,
        actor=AUTO_RESUME_ACTOR,
        at=at,
    )
    repo.record_intent(resumed)
    slack = Slack(503, 200)
    deliver = deliverer(repo, clock, slack)

    first = deliver.deliver_due()
    assert (first["expanded"], first["retrying"]) == (1, 1)
    assert repo.intents(10) == []
    clock.advance(600)
    assert deliver.deliver_due() == {"due": 1, "delivered": 1}

    [stored] = repo.list_notifications(NotificationKind.AUTOMATIC_RESUME, None, 10)
    assert (stored.status, stored.attempts) == (NotificationStatus.DELIVERED, 2)
    assert "nightly" in slack.posted[-1]["text"]
    assert deliver.deliver_due() == {}


def test_a_notification_raised_twice_is_delivered_once(repo: InMemoryNotificationRepository, clock: FixedClock) -> None:
    outbox, slack = OutboxNotifier(repo, Routes(), clock), Slack(200)
    for _ in range(2):
        outbox.notify(NotificationKind.EMERGENCY_STOP_ON, "stop!", {"actor": "alice"}, "estop#on#1")

    assert deliverer(repo, clock, slack).deliver_due() == {"due": 1, "delivered": 1}
    assert len(slack.posted) == 1


def test_a_token_dlq_episode_notifies_once_and_closes_when_drained(
    repo: InMemoryNotificationRepository, clock: FixedClock
) -> None:
    depths = iter([3, 5, 0, 2])
    watcher = TokenDlqWatcher(
        lambda: DlqSummary(depth=next(depths), sample=[]), repo, OutboxNotifier(repo, Routes(), clock), clock
    )

    opened = watcher.check()
    assert watcher.check()["episode"] == opened["episode"]
    assert watcher.check() == {"depth": 0, "episode": "closed"}
    clock.advance(60)
    reopened = watcher.check()

    notices = repo.list_notifications(NotificationKind.TOKEN_DLQ_NOT_EMPTY, None, 10)
    assert [n.fields["depth"] for n in notices] == ["2", "3"]
    assert reopened["episode"] != opened["episode"]
    assert repo.due(clock.now() + timedelta(seconds=1), 10) == notices[::-1]


class FlakyFinish(InMemoryNotificationRepository):
    """The store goes away right after a webhook answered: the first ``outage`` records fail."""

    def __init__(self, outage: int) -> None:
        super().__init__()
        self.outage = outage

    def finish(self, *args: Any, **kwargs: Any) -> bool:
        if self.outage:
            self.outage -= 1
            raise StoreError("the table is unavailable")
        return super().finish(*args, **kwargs)


def test_a_sent_notification_is_recorded_through_a_short_store_outage_and_never_sent_again(clock: FixedClock) -> None:
    repo, slack, slept = FlakyFinish(outage=3), Slack(200), []
    outbox = OutboxNotifier(repo, Routes(), clock)
    outbox.notify(NotificationKind.EMERGENCY_STOP_ON, "stop!", {"actor": "alice"}, "estop#on#1")
    deliver = NotificationDeliverer(repo, Routes(), clock, http_factory=slack.client, sleep=slept.append)

    assert deliver.deliver_due() == {"due": 1, "delivered": 1}
    assert slept == list(RECORD_RETRY_DELAYS[:3])
    clock.advance(3600)  # long past the claim's lease: nothing is left to send again
    assert deliver.deliver_due() == {}
    assert len(slack.posted) == 1


def test_a_store_outage_longer_than_the_retries_ends_the_step_with_the_claim_held(clock: FixedClock) -> None:
    repo, slack, slept = FlakyFinish(outage=len(RECORD_RETRY_DELAYS) + 1), Slack(200, 200), []
    OutboxNotifier(repo, Routes(), clock).notify(NotificationKind.EMERGENCY_STOP_ON, "stop!", {}, "estop#on#1")
    deliver = NotificationDeliverer(repo, Routes(), clock, http_factory=slack.client, sleep=slept.append)

    with pytest.raises(StoreError):
        deliver.deliver_due()
    assert slept == list(RECORD_RETRY_DELAYS)
    assert deliver.deliver_due() == {}  # still claimed: nobody sends it while the lease runs
    clock.advance(120)  # the lease is over: at least once, so it goes out again
    assert deliver.deliver_due() == {"due": 1, "delivered": 1}
    assert len(slack.posted) == 2
