"""An in-memory outbox keeping the table's conditions (stored once, claimed before sent), for tests."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from koipond.models.history import HistoryEvent
from koipond.notifications.intents import LoadTestFacts
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import DeliveryOutcome, Episode, Notification, NotificationStatus, stamp


class InMemoryNotificationRepository:
    """Notifications keyed by (event key, route), intents by event id, episodes by name; one lock for all."""

    def __init__(self) -> None:
        self._notifications: dict[tuple[str, str], Notification] = {}
        self._intents: dict[str, HistoryEvent] = {}
        self._episodes: dict[str, Episode] = {}
        self._lock = threading.Lock()

    def record_intent(self, event: HistoryEvent) -> None:
        """``event`` waits to notify (what a transition's transaction marks on its history item)."""
        with self._lock:
            self._intents[event.id] = event

    def add(self, notification: Notification) -> bool:
        with self._lock:
            return self._add_all([notification])

    def intents(self, limit: int) -> list[HistoryEvent]:
        with self._lock:
            return [self._intents[i] for i in sorted(self._intents)[:limit]]

    def fulfil(self, notifications: Sequence[Notification], events: Sequence[HistoryEvent]) -> bool:
        with self._lock:
            waiting = all(e.id in self._intents for e in events)
            if waiting:
                for event in events:
                    del self._intents[event.id]
            # The outbox items are written only with the intents, so a fulfilled intent stores nothing.
            return waiting and self._add_all(notifications)

    def get(self, key: str, route: str) -> Notification | None:
        with self._lock:
            return self._notifications.get((key, route))

    def due(self, now: datetime, limit: int) -> list[Notification]:
        with self._lock:
            pending = [n for n in self._notifications.values() if n.status is NotificationStatus.PENDING]
        due = [n for n in pending if _order(n) <= now]
        return sorted(due, key=lambda n: (stamp(_order(n)), n.key, n.route))[:limit]

    def claim(self, n: Notification, now: datetime, lease: timedelta, owner: str) -> Notification | None:
        with self._lock:
            # As the store's condition: nobody claimed or finished it since it was read.
            stored = self._pending_unchanged(n, "next_attempt_at")
            if stored is None:
                return None
            changes = {"attempts": stored.attempts + 1, "next_attempt_at": now + lease, "lease_owner": owner}
            self._notifications[(n.key, n.route)] = stored.model_copy(update=changes)
        return n.model_copy(update=changes)

    def finish(
        self,
        claimed: Notification,
        status: NotificationStatus,
        outcome: DeliveryOutcome,
        next_attempt_at: datetime | None,
    ) -> bool:
        with self._lock:
            # As the store's condition: the claim is still this deliverer's, and for this attempt.
            stored = self._pending_unchanged(claimed, "lease_owner", "attempts")
            if stored is None:
                return False
            changes = {
                "status": status,
                "last_outcome": outcome,
                "next_attempt_at": next_attempt_at,
                "delivered_at": outcome.at if status is NotificationStatus.DELIVERED else None,
                "lease_owner": None,
            }
            self._notifications[(claimed.key, claimed.route)] = stored.model_copy(update=changes)
            return True

    def _pending_unchanged(self, n: Notification, *fields: str) -> Notification | None:
        """The stored notification ``n`` names, if it is pending with ``fields`` as in ``n``; else None."""
        stored = self._notifications.get((n.key, n.route))
        if stored is None or stored.status is not NotificationStatus.PENDING:
            return None
        return stored if all(getattr(stored, field) == getattr(n, field) for field in fields) else None

    def list_notifications(
        self, kind: NotificationKind | None, status: NotificationStatus | None, limit: int
    ) -> list[Notification]:
        with self._lock:
            found = [
                n
                for n in self._notifications.values()
                if (kind is None or n.kind is kind) and (status is None or n.status is status)
            ]
        return sorted(found, key=lambda n: (n.created_at, n.key, n.route), reverse=True)[:limit]

    def episode(self, name: str) -> Episode | None:
        with self._lock:
            return self._episodes.get(name)

    def open_episode(self, name: str, started_at: datetime) -> bool:
        with self._lock:
            if name in self._episodes:
                return False
            self._episodes[name] = Episode(started_at=started_at)
            return True

    def mark_episode_notified(self, name: str) -> None:
        with self._lock:
            if name in self._episodes:
                self._episodes[name] = self._episodes[name].model_copy(update={"notified": True})

    def close_episode(self, name: str) -> None:
        with self._lock:
            self._episodes.pop(name, None)

    def _add_all(self, notifications: Sequence[Notification]) -> bool:
        keys = [(n.key, n.route) for n in notifications]
        if any(key in self._notifications for key in keys) or len(set(keys)) < len(keys):
            return False
        self._notifications.update(zip(keys, notifications, strict=True))
        return True


def _order(n: Notification) -> datetime:
    """Where the outbox sorts ``n``: its next attempt while pending, its creation otherwise."""
    return n.next_attempt_at if n.status is NotificationStatus.PENDING and n.next_attempt_at else n.created_at


class InMemoryLoadTests:
    """A :data:`~koipond.notifications.ports.LoadTestLookup` over a fixed mapping of test id to facts."""

    def __init__(self, tests: Mapping[str, LoadTestFacts] | None = None) -> None:
        self.tests = dict(tests or {})

    def __call__(self, test_ids: Sequence[str]) -> dict[str, LoadTestFacts]:
        return {i: self.tests[i] for i in set(test_ids) if i in self.tests}
