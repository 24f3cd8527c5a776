"""School assignments and the allocator's lease in memory, fenced exactly as the DynamoDB transactions are.

An assignment write is one commit of three staged writes, as in DynamoDB: a check that the lease still
names this holder and fence, the put conditioned on the item's version, and the School's heartbeat
stamp; a holder that lost its lease therefore never writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from koipond.errors import LostLeaseError
from koipond.memory.schools import MemorySchoolRepository
from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite, put_versioned
from koipond.models.allocation import count_koi
from koipond.models.assignments import AllocatorLease, SchoolAssignment


@dataclass(frozen=True)
class _Lease:
    holder: str
    fence: int
    expires_ms: int  # epoch milliseconds, as the DynamoDB item keeps it

    def to_model(self) -> AllocatorLease:
        return AllocatorLease(holder=self.holder, fence=self.fence, expires_at=self.expires_ms / 1000)


class MemoryAssignmentRepository:
    def __init__(self, writes: MemoryUnitOfWork, schools: MemorySchoolRepository) -> None:
        """Args:
        writes: the pond's unit of work (its lock stands for DynamoDB's transactions).
        schools: whose heartbeats learn each assignment's stamp, as the DynamoDB write updates the item.
        """
        self._writes = writes
        self._schools = schools
        self._assignments: dict[str, SchoolAssignment] = {}
        self._lease: _Lease | None = None

    def get(self, school_id: str) -> SchoolAssignment:
        with self._writes.lock:
            return self._assignments.get(school_id) or SchoolAssignment(school_id=school_id)

    def list_all(self) -> list[SchoolAssignment]:
        with self._writes.lock:
            return [self._assignments[school_id] for school_id in sorted(self._assignments)]

    def write(self, assignment: SchoolAssignment, lease: AllocatorLease, stamp: int, now: float) -> SchoolAssignment:
        # The DynamoDB item keeps ranges only, so a stored assignment's koi are counted from them.
        tests = tuple(t.model_copy(update={"koi": count_koi(t.ranges)}) for t in assignment.tests)
        stored = assignment.model_copy(update={"version": stamp, "tests": tests})
        school_id = assignment.school_id
        writes = [
            # Prevents: a holder whose lease expired (and was taken) writing over the new holder's work.
            self._lease_check(lease),
            # Prevents: two writes from one holder's stale view of the item (version 0: it must not exist).
            put_versioned(self._assignments, school_id, stored, assignment.version or None),
            self._schools.stamp_action(school_id, stamp, stored.koi),
        ]
        if self._writes.try_commit(writes):
            raise LostLeaseError(f"assignment of {school_id} not written: lease or version moved")
        return stored

    def remove(self, assignment: SchoolAssignment, lease: AllocatorLease) -> None:
        school_id = assignment.school_id
        writes = [
            self._lease_check(lease),
            # Prevents: deleting what a newer write put there (a missing item is at no version).
            MemoryWrite(
                change=lambda: self._assignments.pop(school_id),
                holds=lambda: self._version(school_id) == assignment.version,
            ),
        ]
        if self._writes.try_commit(writes):
            raise LostLeaseError(f"assignment of {school_id} not removed: lease or version moved")

    def hold_lease(
        self, holder: str, now: float, seconds: float, current: AllocatorLease | None
    ) -> AllocatorLease | None:
        expires = _ms(now + seconds)
        with self._writes.lock:
            stored = self._lease
            # Prevents: renewing a lease someone took over after it expired (the fence would be reused).
            if current is not None and self._holds(current):
                self._lease = _Lease(current.holder, current.fence, expires)
                return self._lease.to_model()
            # Prevents: two holders at once; the fence grows so the previous holder's writes fail. A holder
            # may take its own lease again (after a failed pass it reloads everything under a new fence).
            if stored is None or stored.expires_ms < _ms(now) or stored.holder == holder:
                self._lease = _Lease(holder, (stored.fence if stored else 0) + 1, expires)
                return self._lease.to_model()
            return None

    def release_lease(self, lease: AllocatorLease) -> None:
        with self._writes.lock:
            if self._holds(lease):  # taken over already: nothing to release
                self._lease = _Lease(lease.holder, lease.fence, 0)

    def lease(self) -> AllocatorLease | None:
        with self._writes.lock:
            return self._lease.to_model() if self._lease else None

    def _lease_check(self, lease: AllocatorLease) -> MemoryWrite:
        return MemoryWrite(change=lambda: None, holds=lambda: self._holds(lease))

    def _holds(self, lease: AllocatorLease) -> bool:
        stored = self._lease
        return stored is not None and stored.holder == lease.holder and stored.fence == lease.fence

    def _version(self, school_id: str) -> int | None:
        stored = self._assignments.get(school_id)
        return None if stored is None else stored.version


def _ms(epoch_seconds: float) -> int:
    """Epoch milliseconds, truncated as the DynamoDB adapter writes them."""
    return int(epoch_seconds * 1000)
