"""The port of rollouts: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from koipond.models.history import HistoryEvent
from koipond.models.rollouts import Rollout, RolloutStatus
from koipond.services.ports.writes import StagedWrite


class RolloutRepository(Protocol):
    def get(self, rollout_id: str) -> Rollout: ...

    def list_by_status(self, status: RolloutStatus | None = None) -> list[Rollout]:
        """Rollouts by status (all when None), newest first; reads the index, so eventually consistent."""
        ...

    def active_for_test(self, test_id: str) -> str | None:
        """The id of the rollout driving ``test_id`` now, if any."""
        ...

    def create_actions(self, rollout: Rollout, event: HistoryEvent) -> Sequence[StagedWrite]:
        """Writes creating ``rollout`` as its test's active rollout, with its start's event.

        Their conditions fail (on commit) when the id exists or another rollout drives the test already.
        """
        ...

    def save_actions(self, rollout: Rollout, expected_version: int, event: HistoryEvent) -> Sequence[StagedWrite]:
        """Writes storing ``rollout`` as version ``expected_version + 1`` with its transition's event.

        A finished rollout frees its test for the next one in the same writes.
        """
        ...

    def test_unchanged_action(self, test_id: str, version: int) -> StagedWrite:
        """A write that changes nothing and holds only while ``test_id`` is still at ``version``."""
        # Prevents: committing a transition decided on a test that someone changed (stopped, scaled) meanwhile.
        ...

    def transitions(self, rollout_id: str) -> list[HistoryEvent]: ...

    def events_since(self, subject: str, since: datetime) -> list[HistoryEvent]:
        """``subject``'s history events at or after ``since``, oldest first (one Query, not the whole history)."""
        ...
