"""Notification intents on moto: a transition's history event is its notification, so no process death loses one.

Every transition that notifies is driven through the real services; a "process death" is a DynamoDB client
that raises :class:`ProcessDied` (a ``BaseException``, so no ``except Exception`` of koipond catches it)
right before or right after a transaction, and a fresh Keeper over the same table plays the restarted
process. The real local webhook sink counts what it received per notification key.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, injected_keeper
from koipond.models.history import EventKind, HistoryEvent
from koipond.notifications.intents import MAX_GROUP, notification_kind, plan_notifications
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import Notification, NotificationStatus
from koipond.notifications.token_dlq import TokenDlqWatcher
from koipond.services.deploys import NewDeploy
from koipond.services.loadtests import LoadTestChange
from koipond.settings import Settings
from koipond.tokens.models import DlqSummary
from local_pond.aws import provision_notification_secret
from local_pond.webhook_sink import WebhookSink
from tests.conftest import MINIMAL_BEHAVIOR, START, Api, new_test_body

EVERYTHING = "/triggers/T1/everything"
ONCALL = "/services/T1/B1/oncall"
ONCALL_KINDS = {
    NotificationKind.EMERGENCY_STOP_ON,
    NotificationKind.AUTOMATIC_SHUTDOWN,
    NotificationKind.DEPLOY_VERDICT,
}


class ProcessDied(BaseException):
    """A kill -9 at this point: nothing more of the dying process runs."""


class DyingClient:
    """The DynamoDB client of a process that is killed at its next transaction, before or after it commits."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._dies: bool | None = None  # None: alive; else whether the transaction commits before the death

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def die_at_next_transaction(self, *, after_commit: bool = True) -> None:
        self._dies = after_commit

    def transact_write_items(self, **request: Any) -> Any:
        if self._dies is False:
            raise ProcessDied
        answer = self._client.transact_write_items(**request)
        if self._dies:
            raise ProcessDied
        return answer


def dying_keeper(
    dynamodb: Any, settings: Settings, secret: str, clock: FixedClock, *, after_commit: bool = True
) -> Keeper:
    """A Keeper process that will be killed at its next transaction (once started: its start-up writes live)."""
    client = DyingClient(dynamodb)
    keeper = keeper_over(client, settings, secret, clock)
    client.die_at_next_transaction(after_commit=after_commit)
    return keeper


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


@pytest.fixture
def secret(settings: Settings, sink: WebhookSink) -> str:
    """Routes: one webhook takes every kind, another only three."""
    sink.state.clear()
    name = f"koipond/intents-{uuid.uuid4().hex[:8]}"
    config = {
        "routes": [
            {
                "name": "everything",
                "type": "workflow",
                "url": f"{sink.url}{EVERYTHING}",
                "kinds": list(NotificationKind),
            },
            {"name": "oncall", "type": "incoming", "url": f"{sink.url}{ONCALL}", "kinds": sorted(ONCALL_KINDS)},
        ]
    }
    provision_notification_secret(settings, name, config)
    return name


def keeper_over(client: Any, settings: Settings, secret: str, clock: FixedClock) -> Keeper:
    """A Keeper process over the shared table (each one is a process that may die and be restarted)."""
    return build_keeper(settings.model_copy(update={"notification_secret": secret}), client, clock)


@pytest.fixture
def routed(settings: Settings, dynamodb: Any, clock: FixedClock, secret: str) -> Iterator[Keeper]:
    built = keeper_over(dynamodb, settings, secret, clock)
    with injected_keeper(built):
        assert Api().put("/v1/behaviors/average_user", MINIMAL_BEHAVIOR).status == 201
        yield built


def start_test(**overrides: Any) -> str:
    response = Api().post("/v1/tests", new_test_body(koi=20, **overrides))
    assert response.status == 201, response.body
    return str(response.body["id"])


def notifications_by_key(keeper: Keeper) -> dict[str, list[Notification]]:
    found: dict[str, list[Notification]] = {}
    for n in keeper.notifications.list_notifications(limit=200):
        found.setdefault(n.key, []).append(n)
    return found


def subscribed(kind: NotificationKind) -> set[str]:
    return {"everything", "oncall"} if kind in ONCALL_KINDS else {"everything"}


# --- a process dies between the transition and anything after it --------------------------------------------


def test_a_stop_whose_process_dies_right_after_its_transaction_is_still_notified_once(
    routed: Keeper, settings: Settings, dynamodb: Any, clock: FixedClock, secret: str, sink: WebhookSink
) -> None:
    dying = dying_keeper(dynamodb, settings, secret, clock)
    with pytest.raises(ProcessDied):
        dying.estop.activate("alice", "checkout is down")
    assert routed.estop.status().state.active, "the stop itself was committed"
    assert routed.notifications.list_notifications() == []  # nothing but the transition happened

    restarted = keeper_over(dynamodb, settings, secret, clock)
    assert restarted.notifications.deliverer.deliver_due() == {"expanded": 1, "due": 2, "delivered": 2}
    assert restarted.notifications.deliverer.deliver_due() == {}
    assert sink.state.receipts(EVERYTHING) == sink.state.receipts(ONCALL)
    [(key, count)] = sink.state.receipts(EVERYTHING).items()
    assert key.startswith("estop#on#")
    assert count == 1


def test_a_stop_whose_transaction_never_committed_notifies_nobody(
    routed: Keeper, settings: Settings, dynamodb: Any, clock: FixedClock, secret: str, sink: WebhookSink
) -> None:
    dying = dying_keeper(dynamodb, settings, secret, clock, after_commit=False)
    with pytest.raises(ProcessDied):
        dying.estop.activate("alice", "checkout is down")
    assert not routed.estop.status().state.active
    assert routed.notifications.deliverer.deliver_due() == {}
    assert sink.state.received() == []


@pytest.mark.parametrize("after_commit", [True, False], ids=["after-expanding", "while-expanding"])
def test_a_tick_that_dies_expanding_leaves_each_notification_delivered_once(
    routed: Keeper,
    settings: Settings,
    dynamodb: Any,
    clock: FixedClock,
    secret: str,
    sink: WebhookSink,
    after_commit: bool,
) -> None:
    routed.estop.activate("alice", "checkout is down")
    routed.estop.lift("alice", "fixed")
    dying_tick = dying_keeper(dynamodb, settings, secret, clock, after_commit=after_commit)
    with pytest.raises(ProcessDied):
        dying_tick.notifications.deliverer.deliver_due()
    for _ in range(2):  # the restarted tick, then the next one
        keeper_over(dynamodb, settings, secret, clock).notifications.deliverer.deliver_due()
    stored = notifications_by_key(routed)
    assert sorted(n.kind.value for ns in stored.values() for n in ns) == [
        "emergency_stop_off",
        "emergency_stop_on",
        "emergency_stop_on",
    ]
    assert all(n.status is NotificationStatus.DELIVERED for ns in stored.values() for n in ns)
    assert set(sink.state.receipts(EVERYTHING).values()) == {1}
    assert len(sink.state.receipts(EVERYTHING)) == 2
    assert set(sink.state.receipts(ONCALL).values()) == {1}


def test_two_ticks_expanding_the_same_intents_store_each_notification_once(
    routed: Keeper, settings: Settings, dynamodb: Any, clock: FixedClock, secret: str
) -> None:
    routed.estop.activate("alice", "drill")
    other = keeper_over(dynamodb, settings, secret, clock)
    waiting = routed.notifications.repo.intents(10)  # both ticks read the same waiting intents
    [planned] = plan_notifications(waiting)
    first = routed.notifications.repo.fulfil([], planned.events)
    second = other.notifications.repo.fulfil([], planned.events)
    assert (first, second) == (True, False)
    assert routed.notifications.repo.intents(10) == []


def test_an_outbox_item_written_directly_before_an_upgrade_is_not_written_again(routed: Keeper) -> None:
    routed.estop.activate("alice", "drill")
    [planned] = plan_notifications(routed.notifications.repo.intents(10))
    # A Keeper of the previous release notified directly, with the same key, before it was replaced.
    routed.notifier.notify(planned.kind, planned.text, planned.fields, planned.key)
    assert routed.notifications.intents.expand_pending() == {"raced": 1}
    assert routed.notifications.repo.intents(10) == []
    assert len(routed.notifications.list_notifications()) == 2  # one per subscribed route


def test_the_emergency_stop_is_pulled_even_when_the_outbox_cannot_be_written(
    settings: Settings, dynamodb: Any, clock: FixedClock
) -> None:
    keeper = build_keeper(settings.model_copy(update={"notification_secret": "koipond/missing"}), dynamodb, clock)
    assert keeper.estop.activate("alice", "drill").state.active  # no secret, no route: the stop does not care
    assert keeper.notifications.intents.expand_pending() == {"expanded": 1}
    [failed] = keeper.notifications.list_notifications()
    assert failed.status is NotificationStatus.FAILED  # kept, visible, with the reason


# --- every transition that notifies, once per subscribed route ----------------------------------------------


class DlqDepths:
    def __init__(self, *depths: int) -> None:
        self._depths = list(depths)

    def __call__(self) -> DlqSummary:
        return DlqSummary(depth=self._depths.pop(0), sample=[])


def pull_stop(keeper: Keeper, clock: FixedClock) -> None:
    assert Api().post("/v1/emergency-stop", {"reason": "checkout is down"}).status == 200


def pull_and_lift_stop(keeper: Keeper, clock: FixedClock) -> None:
    pull_stop(keeper, clock)
    assert Api().delete("/v1/emergency-stop", {"reason": "fixed"}).status == 200


def ramp_to_the_end(keeper: Keeper, clock: FixedClock) -> None:
    keeper.rollouts.create(start_test(), [(50, 5), (100, 5)], "alice", "launch")
    for _ in range(2):
        clock.advance(5)
        keeper.rollouts.tick()


def steer_a_rollout_by_hand(keeper: Keeper, clock: FixedClock) -> None:
    rollout = keeper.rollouts.create(start_test(), [(50, 5), (100, 5)], "alice", "launch")
    keeper.rollouts.pause(rollout.id, "alice", "looking")
    keeper.rollouts.resume(rollout.id, "alice", "looks fine")
    keeper.rollouts.abort(rollout.id, "alice", "enough")


def guard_stops_three_tests(keeper: Keeper, clock: FixedClock) -> None:
    for test_id in [start_test(), start_test(), start_test()]:
        keeper.tests.stop(test_id, "guard", "guard web-api-success-rate: all 10 samples < 0.95")


def guard_sheds_a_test(keeper: Keeper, clock: FixedClock) -> None:
    keeper.tests.change(start_test(), LoadTestChange(shed_percent=50), "guard", "guard p99: 0.8 > 0.5")


def guard_stop_then_automatic_resume(keeper: Keeper, clock: FixedClock) -> None:
    test_id = start_test(resume="auto", cool_down_seconds=60)
    keeper.tests.stop(test_id, "guard", "guard p99: breach")
    clock.advance(61)
    assert keeper.continuous.tick()["resumed"] == 1


def judge_a_deploy(keeper: Keeper, clock: FixedClock) -> None:
    keeper.deploys.record(NewDeploy("chat-api", "v2", START - timedelta(minutes=30), 20, 30), "deploy-bot")
    assert keeper.deploys.tick()["judged"] == 1  # no Prometheus cluster here: inconclusive, still a verdict


def token_dlq_fills(keeper: Keeper, clock: FixedClock) -> None:
    TokenDlqWatcher(DlqDepths(3, 4), keeper.notifications.repo, keeper.notifier, clock).check()


def people_change_tests(keeper: Keeper, clock: FixedClock) -> None:
    test_id = start_test()
    keeper.tests.change(test_id, LoadTestChange(koi=40), "alice", "more")
    keeper.tests.change(test_id, LoadTestChange(shed_percent=10), "alice", "a little less")
    keeper.tests.stop(test_id, "alice", "done for today")
    keeper.tests.resume(test_id, "alice", "again")
    timed = start_test(duration_seconds=60)
    clock.advance(61)
    keeper.tests.complete_elapsed([keeper.tests.get(timed)])


K = NotificationKind
TRANSITIONS: dict[str, tuple[Callable[[Keeper, FixedClock], None], list[NotificationKind]]] = {
    "emergency stop pulled": (pull_stop, [K.EMERGENCY_STOP_ON]),
    "emergency stop pulled and lifted": (pull_and_lift_stop, [K.EMERGENCY_STOP_ON, K.EMERGENCY_STOP_OFF]),
    "rollout started, advanced, held": (
        ramp_to_the_end,
        [K.ROLLOUT_STAGE_STARTED, K.ROLLOUT_ADVANCED, K.ROLLOUT_STAGE_HELD],
    ),
    "rollout paused, resumed, aborted": (
        steer_a_rollout_by_hand,
        [K.ROLLOUT_STAGE_STARTED, K.ROLLOUT_PAUSED, K.ROLLOUT_STAGE_STARTED, K.ROLLOUT_PAUSED],
    ),
    "guard stops three tests (one breach)": (guard_stops_three_tests, [K.AUTOMATIC_SHUTDOWN]),
    "guard sheds a test": (guard_sheds_a_test, [K.AUTOMATIC_SHUTDOWN]),
    "automatic resume": (guard_stop_then_automatic_resume, [K.AUTOMATIC_SHUTDOWN, K.AUTOMATIC_RESUME]),
    "deploy verdict": (judge_a_deploy, [K.DEPLOY_VERDICT]),
    "token DLQ not empty": (token_dlq_fills, [K.TOKEN_DLQ_NOT_EMPTY]),
    "people start, scale, shed, stop, resume; a test completes": (people_change_tests, []),
}


@pytest.mark.parametrize("case", list(TRANSITIONS))
def test_each_notifying_transition_gives_one_outbox_item_per_subscribed_route_delivered_once(
    case: str, routed: Keeper, settings: Settings, dynamodb: Any, clock: FixedClock, secret: str, sink: WebhookSink
) -> None:
    act, expected = TRANSITIONS[case]
    act(routed, clock)
    rival = keeper_over(dynamodb, settings, secret, clock)
    for tick in range(3):  # overlapping ticks of two processes, then a later one
        (routed if tick % 2 == 0 else rival).notifications.deliverer.deliver_due()
    stored = notifications_by_key(routed)
    assert sorted(ns[0].kind.value for ns in stored.values()) == sorted(k.value for k in expected)
    for key, rows in stored.items():
        assert sorted(n.route for n in rows) == sorted(subscribed(rows[0].kind)), key
        assert all(n.status is NotificationStatus.DELIVERED for n in rows), key
    assert routed.notifications.repo.intents(100) == [], "an intent was left waiting"
    receipts = sink.state.receipts(EVERYTHING) + sink.state.receipts(ONCALL)
    assert receipts == Counter({key: len(rows) for key, rows in stored.items()})


def test_one_breach_over_many_tests_is_one_notification_per_group_of_tests(routed: Keeper) -> None:
    test_ids = [start_test() for _ in range(MAX_GROUP + 2)]
    for test_id in test_ids:
        routed.tests.stop(test_id, "guard", "guard p99: 0.8 > 0.5")
    assert routed.notifications.intents.expand_pending() == {"expanded": 2}
    stored = notifications_by_key(routed)
    listed = [n.fields["tests"].split(",") for ns in stored.values() for n in ns if n.route == "everything"]
    assert sorted(len(tests) for tests in listed) == [2, MAX_GROUP]
    assert sorted(t for tests in listed for t in tests) == sorted(test_ids)
    assert {n.fields["label"] for ns in stored.values() for n in ns} == {"p99"}


# --- the planner itself (pure): every waiting event in exactly one notification ------------------------------

ACTORS = ["alice", "guard", "auto-resume", "rollouts"]
REASONS = ["guard p99: 0.8 > 0.5", "guard web-api: no data", "by hand", None]
event_specs = st.lists(
    st.tuples(st.sampled_from(list(EventKind)), st.sampled_from(ACTORS), st.sampled_from(REASONS)), max_size=150
)


@given(specs=event_specs)
def test_the_planner_puts_every_notifying_event_in_exactly_one_notification(
    specs: list[tuple[EventKind, str, str | None]],
) -> None:
    events = [
        HistoryEvent(id=f"e{n:04d}", subject=f"s{n % 7}", kind=kind, actor=actor, reason=reason, at=START)
        for n, (kind, actor, reason) in enumerate(specs)
    ]
    planned = plan_notifications(events)
    covered = Counter(e.id for p in planned for e in p.events)
    assert covered == Counter(e.id for e in events if notification_kind(e) is not None)
    assert len({p.key for p in planned}) == len(planned)  # one outbox key per notification
    assert all(1 <= len(p.events) <= MAX_GROUP for p in planned)
    assert all(notification_kind(e) is p.kind for p in planned for e in p.events)
    replanned = plan_notifications(events)  # a tick that died and ran again plans the same keys
    assert [p.key for p in replanned] == [p.key for p in planned]
