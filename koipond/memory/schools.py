"""School heartbeats in memory: one record per School, written by its polls and by the allocator's assignment writes.

Like the DynamoDB items, a record exists once either wrote: a School the allocator assigned before its
first poll has a record with the assignment's stamp alone, which no read shows as a School. Heartbeats
do not expire here; DynamoDB's TTL removes them a day after the last poll, days late at worst, and no
read depends on when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite
from koipond.models.schools import PreviousHeartbeat, School


@dataclass
class _Record:
    report: School | None = None  # what the last poll said; None while only the allocator wrote
    running: dict[str, int] | None = None  # as last reported (the DynamoDB item keeps its digest); None: forgotten
    retired: bool = False
    assignment_version: int | None = None
    assigned_koi: int = 0

    def school(self) -> School | None:
        if self.report is None:
            return None
        return self.report.model_copy(
            update={"assignment_version": self.assignment_version, "assigned_koi": self.assigned_koi}
        )


class MemorySchoolRepository:
    def __init__(self, writes: MemoryUnitOfWork) -> None:
        self._lock = writes.lock  # the pond's: an assignment write updates a heartbeat in its own commit
        self._records: dict[str, _Record] = {}
        self._running: dict[str, dict[str, int]] = {}  # what save_running stored, apart as in DynamoDB

    def get(self, school_id: str) -> School | None:
        with self._lock:
            record = self._records.get(school_id)
            return record.school() if record else None

    def heartbeat(self, school_id: str, capacity: int, running: Mapping[str, int], at: datetime) -> PreviousHeartbeat:
        reported = dict(running)
        with self._lock:
            record = self._records.setdefault(school_id, _Record())
            before = record.school()
            changed = record.running != reported
            record.report = School(
                id=school_id,
                capacity=capacity,
                running_koi=sum(reported.values()),
                running_tests=sum(1 for koi in reported.values() if koi),
                last_poll_at=at,
                first_seen_at=record.report.first_seen_at if record.report else at,
            )
            record.running = reported
            record.retired = False  # a School that polls is the allocator's to consider again
        return PreviousHeartbeat(before, changed)

    def save_running(self, school_id: str, running: Mapping[str, int], at: datetime) -> None:
        with self._lock:
            self._running[school_id] = dict(running)

    def forget_running_digest(self, school_id: str) -> None:
        with self._lock:
            self._records.setdefault(school_id, _Record()).running = None

    def running_by_school(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {school_id: dict(self._running[school_id]) for school_id in sorted(self._running)}

    def list_all(self) -> list[School]:
        return self._listed(retired=False)

    def list_retired(self) -> list[School]:
        return self._listed(retired=True)

    def _listed(self, *, retired: bool) -> list[School]:
        with self._lock:
            found = [self._records[i].school() for i in sorted(self._records) if self._records[i].retired is retired]
        return [school for school in found if school is not None]

    def retire(self, school: School) -> bool:
        with self._lock:
            record = self._records.get(school.id)
            # Prevents: retiring a School whose poll landed after it was judged dead (the DynamoDB
            # condition compares the poll's time as written, so this compares the same text).
            if record is None or record.report is None:
                return False
            if record.report.last_poll_at.isoformat() != school.last_poll_at.isoformat():
                return False
            record.retired = True
            return True

    def stamp_action(self, school_id: str, stamp: int, koi: int) -> MemoryWrite:
        """What an assignment write leaves on the School's heartbeat, in the same commit: the stamp a poll
        compares, and the koi people see (unconditional, as the DynamoDB transaction's third action)."""

        def change() -> None:
            record = self._records.setdefault(school_id, _Record())
            record.assignment_version = stamp
            record.assigned_koi = koi

        return MemoryWrite(change=change)
