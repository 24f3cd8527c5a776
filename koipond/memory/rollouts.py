"""Rollouts in memory: versioned state, one active rollout per test, transitions as history events."""

from __future__ import annotations

from datetime import datetime

from koipond.errors import NotFoundError
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.loadtests import MemoryLoadTestRepository
from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite, delete, put_new, put_versioned
from koipond.models.cursors import history_sort_key
from koipond.models.history import HistoryEvent
from koipond.models.rollouts import Rollout, RolloutStatus


class MemoryRolloutRepository:
    def __init__(
        self, writes: MemoryUnitOfWork, history: MemoryHistoryRepository, tests: MemoryLoadTestRepository
    ) -> None:
        self._writes = writes
        self._history = history
        self._tests = tests
        self._rollouts: dict[str, Rollout] = {}
        self._active: dict[str, str] = {}  # test id -> the rollout driving it

    def get(self, rollout_id: str) -> Rollout:
        rollout = self._rollouts.get(rollout_id)
        if rollout is None:
            raise NotFoundError(f"no rollout with id {rollout_id!r}", {"rollout_id": rollout_id})
        return rollout

    def list_by_status(self, status: RolloutStatus | None = None) -> list[Rollout]:
        with self._writes.lock:
            found = [r for r in self._rollouts.values() if status is None or r.status is status]
        return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)

    def active_for_test(self, test_id: str) -> str | None:
        return self._active.get(test_id)

    def create_actions(self, rollout: Rollout, event: HistoryEvent) -> list[MemoryWrite]:
        return [
            put_versioned(self._rollouts, rollout.id, rollout, None),
            # Prevents: two rollouts driving one test at once (each would scale it to its own stages).
            put_new(self._active, rollout.test_id, rollout.id),
            self._history.append_action(event),
        ]

    def save_actions(self, rollout: Rollout, expected_version: int, event: HistoryEvent) -> list[MemoryWrite]:
        stored = rollout.model_copy(update={"version": expected_version + 1})
        # Prevents: two ticks (or a tick and a person) both moving the rollout from the same state.
        actions = [
            put_versioned(self._rollouts, rollout.id, stored, expected_version),
            self._history.append_action(event),
        ]
        if stored.status.finished:
            # A finished rollout frees its test for the next one, in the same commit that finishes it.
            actions.append(delete(self._active, rollout.test_id))
        return actions

    def test_unchanged_action(self, test_id: str, version: int) -> MemoryWrite:
        return self._tests.unchanged(test_id, version)

    def transitions(self, rollout_id: str) -> list[HistoryEvent]:
        return self._history.list_events(rollout_id)

    def events_since(self, subject: str, since: datetime) -> list[HistoryEvent]:
        return self._history.events_from(subject, history_sort_key(since))
