"""The outbox: each event key stored once per route, never failing the caller; listing over the API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, release_tick_steps
from koipond.notifications.config import NoRoutes
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import NO_ROUTE, NotificationStatus
from koipond.notifications.outbox import OutboxNotifier
from koipond.notifications.store import DynamoNotificationRepository
from koipond.notifications.token_dlq import TokenDlqWatcher
from koipond.settings import Settings
from koipond.store.table import DynamoTable
from koipond.tokens.models import DlqSummary
from local_pond.aws import provision_notification_secret
from tests.conftest import Api, issue_token

ROUTES = {
    "routes": [
        {
            "name": "oncall",
            "type": "incoming",
            "url": "https://hooks.slack.com/services/T/B/hush",
            "kinds": ["emergency_stop_on"],
        },
        {
            "name": "release",
            "type": "workflow",
            "url": "https://hooks.slack.com/triggers/T/1/hush",
            "kinds": ["emergency_stop_on", "token_dlq_not_empty"],
        },
    ]
}


@pytest.fixture
def routed(settings: Settings, dynamodb: Any, clock: FixedClock) -> Keeper:
    provision_notification_secret(settings, "koipond/outbox-test", ROUTES)
    return build_keeper(settings.model_copy(update={"notification_secret": "koipond/outbox-test"}), dynamodb, clock)


def test_the_same_event_key_is_stored_once_per_route(routed: Keeper, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "koipond.notifications.kinds")
    for _ in range(3):  # a caller retrying after a timeout
        routed.notifier.notify(NotificationKind.EMERGENCY_STOP_ON, "stop!", {"actor": "alice"}, "estop#on#1")
    stored = routed.notifications.list_notifications()
    assert sorted((n.route, n.status, n.attempts) for n in stored) == [
        ("oncall", NotificationStatus.PENDING, 0),
        ("release", NotificationStatus.PENDING, 0),
    ]
    assert caplog.text.count("stop!") == 1
    assert "hush" not in caplog.text


def test_without_a_secret_notifications_are_kept_as_no_route(keeper: Keeper, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "koipond.notifications.kinds")
    keeper.notifier.notify(NotificationKind.DEPLOY_VERDICT, "build 42 passed", {"build": "42"}, "deploy#42")
    [stored] = keeper.notifications.list_notifications()
    assert (stored.route, stored.status, stored.fields) == (NO_ROUTE, NotificationStatus.NO_ROUTE, {"build": "42"})
    assert "[deploy_verdict] build 42 passed build=42" in caplog.text
    assert keeper.notifications.deliverer.deliver_due() == {}


def test_a_kind_no_route_wants_is_kept_as_no_route(routed: Keeper) -> None:
    routed.notifier.notify(NotificationKind.ROLLOUT_PAUSED, "paused", {}, "rollout#r1#paused")
    [stored] = routed.notifications.list_notifications()
    assert stored.status is NotificationStatus.NO_ROUTE


def test_an_unreadable_secret_is_recorded_as_failed(settings: Settings, dynamodb: Any, clock: FixedClock) -> None:
    keeper = build_keeper(settings.model_copy(update={"notification_secret": "koipond/missing"}), dynamodb, clock)
    keeper.notifier.notify(NotificationKind.EMERGENCY_STOP_ON, "stop!", {}, "estop#on#2")
    [stored] = keeper.notifications.list_notifications()
    assert stored.status is NotificationStatus.FAILED
    assert stored.last_outcome is not None
    assert stored.last_outcome.error == "NotificationConfigError"
    assert "ResourceNotFoundException" in (stored.last_outcome.detail or "")


def test_a_storage_failure_never_reaches_the_caller(dynamodb: Any, clock: FixedClock, caplog: Any) -> None:
    repo = DynamoNotificationRepository(DynamoTable(dynamodb, "no-such-table"))
    OutboxNotifier(repo, NoRoutes(), clock).notify(NotificationKind.EMERGENCY_STOP_ON, "stop!", {}, "estop#on#3")
    assert "estop#on#3 (emergency_stop_on) was not recorded: StoreError" in caplog.text
    assert "[emergency_stop_on] stop!" in caplog.text  # the log line is the fallback


def test_pulling_and_lifting_the_stop_each_notify_once(routed: Keeper) -> None:
    from koipond.composition import injected_keeper

    with injected_keeper(routed):
        api = Api()
        assert api.post("/v1/emergency-stop", {"reason": "checkout is down"}).status == 200
        assert api.post("/v1/emergency-stop", {"reason": "pulled twice"}).status == 200  # already on: no news
        assert api.delete("/v1/emergency-stop", {"reason": "fixed"}).status == 200
        assert api.delete("/v1/emergency-stop").status == 200
    assert routed.notifications.list_notifications() == []  # the events are the intents until a tick expands them
    assert routed.notifications.intents.expand_pending() == {"expanded": 2}
    stored = routed.notifications.list_notifications()
    assert sorted((n.kind.value, n.route) for n in stored) == [
        ("emergency_stop_off", NO_ROUTE),
        ("emergency_stop_on", "oncall"),
        ("emergency_stop_on", "release"),
    ]
    on = next(n for n in stored if n.route == "oncall")
    assert on.key.startswith("estop#on#")
    assert on.fields["reason"] == "checkout is down"
    assert on.fields["actor"] == "bootstrap admin"


@pytest.fixture
def listed(routed: Keeper) -> Iterator[Keeper]:
    from koipond.composition import injected_keeper

    routed.notifier.notify(NotificationKind.EMERGENCY_STOP_ON, "first", {}, "k1")
    routed.notifier.notify(NotificationKind.DEPLOY_VERDICT, "second", {}, "k2")
    with injected_keeper(routed):
        yield routed


def test_the_api_lists_newest_first_without_urls(listed: Keeper) -> None:
    viewer = issue_token(Api(), "viewer")
    answer = Api(viewer).get("/v1/notifications")
    assert answer.status == 200
    rows = answer.body["notifications"]
    assert (rows[0]["text"], rows[0]["route"]) == ("second", NO_ROUTE)
    assert {r["route"] for r in rows} == {NO_ROUTE, "oncall", "release"}
    assert "hush" not in str(answer.body)
    assert "lease_owner" not in rows[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("kind=deploy_verdict", {"second"}), ("status=pending", {"first"}), ("limit=1", {"second"})],
)
def test_the_api_filters_by_kind_and_status(listed: Keeper, query: str, expected: set[str]) -> None:
    answer = Api().get(f"/v1/notifications?{query}")
    assert {r["text"] for r in answer.body["notifications"]} == expected


@pytest.mark.parametrize("query", ["kind=nope", "status=sent", "limit=0", "limit=201"])
def test_the_api_refuses_bad_filters(listed: Keeper, query: str) -> None:
    answer = Api().get(f"/v1/notifications?{query}")
    assert answer.status == 422
    assert answer.body["error"]["code"]


def test_listing_needs_a_token(listed: Keeper) -> None:
    assert Api(None).get("/v1/notifications").status == 401


class DlqDepths:
    """A stand-in for the token DLQ: answers the depths it is given, in order."""

    def __init__(self, *depths: int) -> None:
        self._depths = list(depths)

    def __call__(self) -> DlqSummary:
        return DlqSummary(depth=self._depths.pop(0), sample=[])


def test_a_non_empty_dlq_notifies_once_per_episode(routed: Keeper, clock: FixedClock) -> None:
    repo = routed.notifications.repo
    watcher = TokenDlqWatcher(DlqDepths(3, 5, 0, 0, 2), repo, routed.notifier, clock)
    reports = [watcher.check() for _ in range(5)]
    assert reports[2] == {"depth": 0, "episode": "closed"}
    assert reports[3] == {}
    assert reports[0]["episode"] == reports[1]["episode"] != reports[4]["episode"]
    dlq = routed.notifications.list_notifications(kind=NotificationKind.TOKEN_DLQ_NOT_EMPTY)
    assert sorted(n.key for n in dlq) == sorted(f"token_dlq#{r['episode']}" for r in (reports[0], reports[4]))
    assert {n.fields["depth"] for n in dlq} == {"3", "2"}


def test_the_release_tick_ends_with_the_dlq_then_the_notifications(keeper: Keeper) -> None:
    assert list(release_tick_steps(keeper))[-2:] == ["token_dlq", "notifications"]
