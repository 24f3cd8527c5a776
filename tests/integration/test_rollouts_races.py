"""Two release ticks at once on one rollout: exactly one advances it, the other backs off without a trace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper
from koipond.models.history import HistoryEvent
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.store import intent_index_keys
from koipond.services.rollouts import RolloutService
from koipond.settings import Settings
from koipond.store.estop import DynamoEmergencyStopRepository
from koipond.store.guard import DynamoGuardRepository
from koipond.store.history import DynamoHistoryRepository
from koipond.store.rollouts import DynamoRolloutRepository
from koipond.store.table import DynamoTable
from koipond.store.writes import DynamoUnitOfWork
from tests.conftest import Api, new_test_body


class InterleavingRepository(DynamoRolloutRepository):
    """Lets another tick run to completion right after this tick has read the rollout (the racy window)."""

    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository, other_tick: Any) -> None:
        super().__init__(table, history)
        self._other_tick = other_tick

    def events_since(self, subject: str, since: datetime) -> list[HistoryEvent]:
        if self._other_tick is not None:
            tick, self._other_tick = self._other_tick, None
            tick()
        return super().events_since(subject, since)


def setup_rollout(api: Api) -> tuple[str, str]:
    test_id = api.post("/v1/tests", new_test_body(koi=20)).body["id"]
    stages = [{"koi": 50, "hold": "5s"}, {"koi": 100, "hold": "5s"}, {"koi": 150, "hold": "5s"}]
    rollout_id = api.post("/v1/rollouts", {"test_id": test_id, "stages": stages}).body["id"]
    return test_id, rollout_id


def rival_service(
    keeper: Keeper, dynamodb: Any, settings: Settings, clock: FixedClock, other_tick: Any
) -> RolloutService:
    table = DynamoTable(dynamodb, settings.table_name)
    history = DynamoHistoryRepository(table, intent_index_keys)
    return RolloutService(
        InterleavingRepository(table, history, other_tick),
        keeper.tests,
        DynamoGuardRepository(table, history),
        DynamoEmergencyStopRepository(table, history),
        clock,
        settings.max_koi_per_test,
        DynamoUnitOfWork(table),
    )


def test_a_tick_that_loses_the_race_neither_advances_nor_notifies(
    api: Api, keeper: Keeper, dynamodb: Any, settings: Settings, clock: FixedClock
) -> None:
    test_id, rollout_id = setup_rollout(api)
    clock.advance(5)
    other = build_keeper(settings, dynamodb, clock)
    loser = rival_service(keeper, dynamodb, settings, clock, other.rollouts.tick)
    summary = loser.tick()
    assert summary["raced"] == 1
    rollout = keeper.rollouts.get(rollout_id)
    assert rollout.current == 1, "a stage was skipped or not advanced"
    kinds = [e.kind.value for e in keeper.rollouts.transitions(rollout_id)]
    assert kinds == ["rollout_started", "rollout_advanced"]
    scaled = [e.details["koi"] for e in keeper.tests.events(test_id) if e.kind == "test_scaled"]
    assert scaled == [[20, 50], [50, 100]]
    keeper.notifications.intents.expand_pending()  # the release tick's intake: transitions' events to the outbox
    advanced = keeper.notifications.list_notifications(kind=NotificationKind.ROLLOUT_ADVANCED)
    assert len(advanced) == 1


def test_a_person_pausing_in_the_racy_window_wins_over_the_tick(
    api: Api, keeper: Keeper, dynamodb: Any, settings: Settings, clock: FixedClock
) -> None:
    test_id, rollout_id = setup_rollout(api)
    clock.advance(5)
    tick = rival_service(
        keeper, dynamodb, settings, clock, lambda: keeper.rollouts.pause(rollout_id, "alice", "hold on")
    )
    assert tick.tick()["raced"] == 1
    rollout = keeper.rollouts.get(rollout_id)
    assert (rollout.status.value, rollout.current, rollout.paused_reason) == ("paused", 0, "hold on")
    assert keeper.tests.get(test_id).koi == 50
