"""The port of schools: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from koipond.models.schools import PreviousHeartbeat, School


class SchoolRepository(Protocol):
    def get(self, school_id: str) -> School | None:
        """The School as its last poll and the allocator's last write left it; None before its first poll."""
        ...

    def heartbeat(self, school_id: str, capacity: int, running: Mapping[str, int], at: datetime) -> PreviousHeartbeat:
        """Record a poll in one write, with no read before it; return the School as it was before.

        Last writer wins, which is right: a School's newest poll is the truth. ``first_seen_at`` is
        kept from the School's first poll by ``if_not_exists``, so no poll needs to read the item. The
        item as it was tells the poll, at no read cost, what the allocator last gave the School (the
        allocator writes the stamp of the School's assignment there) and whether this poll is news to
        the allocator (first poll, back from the dead, new capacity).

        Returns:
            The School as it was (None before its first poll), and whether its koi per test differ from
            the ones it last reported (by their digest), in which case they are for :meth:`save_running`.
        """
        ...

    def save_running(self, school_id: str, running: Mapping[str, int], at: datetime) -> None:
        """Store what the School runs per test (its poll found the digest changed); expires with the heartbeat."""
        ...

    def forget_running_digest(self, school_id: str) -> None:
        """Make the next poll store its koi per test again (the last attempt failed)."""
        ...

    def running_by_school(self) -> dict[str, dict[str, int]]:
        """Every School's koi per test as last reported (one Query): for people, never for polls."""
        ...

    def list_all(self) -> list[School]:
        """The Schools the allocator considers: live ones, and dead ones it has not retired yet."""
        ...

    def list_retired(self) -> list[School]:
        """Dead Schools the allocator retired, until their heartbeat's TTL removes them (a day)."""
        ...

    def retire(self, school: School) -> bool:
        """Move a dead School out of the allocator's index; False if it polled again meanwhile.

        Its next heartbeat moves it back, so a School that comes back to life is simply live again.
        """
        ...
