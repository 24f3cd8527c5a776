"""School assignments (one item per School) and the allocator's lease, whose token fences every write.

| item              | pk              | sk               |
|-------------------|-----------------|------------------|
| School assignment | ``ASSIGNMENTS`` | ``SCHOOL#<id>``  |
| allocator lease   | ``ALLOCATOR``   | ``META``         |

All assignments share one partition so the allocator loads them in one Query when it takes the
lease. Every assignment write is a three-action transaction: a check that the lease still names this
holder and token, the put conditioned on the item's stamp, and the School's heartbeat item updated
with the new stamp and koi count. A holder that lost its lease (paused, partitioned, slow) can
therefore never write again, and a poll learns from the heartbeat it writes anyway whether its
assignment changed: it reads the assignment item only when it did.
"""

from __future__ import annotations

import contextlib
import json

from koipond.errors import LostLeaseError
from koipond.models.allocation import KoiRange, count_koi
from koipond.models.assignments import AllocatorLease, SchoolAssignment
from koipond.models.schools import LoadTestAssignment
from koipond.store.items import ASSIGNED_KOI, ASSIGNMENT_VERSION, school_pk
from koipond.store.schema import DOC, META, PK, SK, TTL_ATTRIBUTE, VERSION
from koipond.store.schools import HEARTBEAT_TTL_SECONDS
from koipond.store.table import NEW_ITEM, SAME_VERSION, ConditionFailed, DynamoTable, Item

ASSIGNMENTS_PK = "ASSIGNMENTS"
LEASE_PK = "ALLOCATOR"
_HOLDS_LEASE = "#holder = :holder AND #fence = :fence"


def _assignment_sk(school_id: str) -> str:
    return f"SCHOOL#{school_id}"


def _to_item(assignment: SchoolAssignment) -> Item:
    """The item, its document as compact as JSON gets: ``{test id: [start, end, start, end, ...]}``.

    About 30 bytes a test (a model dump takes 75), so a School holding a piece of each of 1,000
    running tests stays near 32 KB, half the 64 KB the design allows an item.
    """
    ranges = {t.test_id: [bound for r in t.ranges for bound in (r.start, r.end)] for t in assignment.tests}
    return {
        PK: ASSIGNMENTS_PK,
        SK: _assignment_sk(assignment.school_id),
        VERSION: assignment.version,
        DOC: json.dumps(ranges, separators=(",", ":")),
    }


def _from_item(item: Item) -> SchoolAssignment:
    school_id = item[SK].removeprefix("SCHOOL#")
    tests = []
    for test_id, bounds in json.loads(item[DOC]).items():
        ranges = tuple(KoiRange(start=s, end=e) for s, e in zip(bounds[::2], bounds[1::2], strict=True))
        tests.append(LoadTestAssignment(test_id=test_id, ranges=ranges, koi=count_koi(ranges)))
    return SchoolAssignment(school_id=school_id, version=item[VERSION], tests=tuple(tests))


class DynamoAssignmentRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def get(self, school_id: str) -> SchoolAssignment:
        item = self._table.get(ASSIGNMENTS_PK, _assignment_sk(school_id))
        return _from_item(item) if item else SchoolAssignment(school_id=school_id)

    def list_all(self) -> list[SchoolAssignment]:
        return [_from_item(item) for item in self._table.query(ASSIGNMENTS_PK)]

    def write(self, assignment: SchoolAssignment, lease: AllocatorLease, stamp: int, now: float) -> SchoolAssignment:
        stored = assignment.model_copy(update={"version": stamp})
        expected = None if assignment.version == 0 else {":expected": assignment.version}
        actions = [
            # Prevents: a holder whose lease expired (and was taken) writing over the new holder's work.
            self._table.check_action(LEASE_PK, META, _HOLDS_LEASE, _lease_values(lease), _LEASE_NAMES),
            # Prevents: two writes from one holder's stale view of the item (its state is reloaded then).
            self._table.put_action(_to_item(stored), NEW_ITEM if expected is None else SAME_VERSION, expected),
            # Unconditional: a School whose heartbeat expired gets an item with the stamp alone (polls and
            # listings skip it), which expires in turn.
            self._table.update_action(
                school_pk(assignment.school_id),
                META,
                "SET #stamp = :stamp, #koi = :koi, #ttl = if_not_exists(#ttl, :ttl)",
                values={":stamp": stamp, ":koi": stored.koi, ":ttl": int(now) + HEARTBEAT_TTL_SECONDS},
                names={"#stamp": ASSIGNMENT_VERSION, "#koi": ASSIGNED_KOI, "#ttl": TTL_ATTRIBUTE},
            ),
        ]
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise LostLeaseError(f"assignment of {assignment.school_id} not written: lease or version moved") from exc
        return stored

    def remove(self, assignment: SchoolAssignment, lease: AllocatorLease) -> None:
        actions = [
            self._table.check_action(LEASE_PK, META, _HOLDS_LEASE, _lease_values(lease), _LEASE_NAMES),
            # Prevents: deleting what a newer write put there.
            self._table.delete_action(
                ASSIGNMENTS_PK, _assignment_sk(assignment.school_id), SAME_VERSION, {":expected": assignment.version}
            ),
        ]
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise LostLeaseError(f"assignment of {assignment.school_id} not removed: lease or version moved") from exc

    def hold_lease(
        self, holder: str, now: float, seconds: float, current: AllocatorLease | None
    ) -> AllocatorLease | None:
        if current is not None:
            try:
                # Prevents: renewing a lease someone took over after it expired (the token would be reused).
                item = self._table.update_if(
                    LEASE_PK, META, "SET #expires = :expires", _HOLDS_LEASE,
                    {**_lease_values(current), ":expires": _ms(now + seconds)}, _LEASE_NAMES,
                )  # fmt: skip
                return _lease_from_item(item)
            except ConditionFailed:
                pass
        try:
            # Prevents: two holders at once; the token grows so the previous holder's writes fail. A holder
            # may take its own lease again (after a failed pass it reloads everything under a new token).
            item = self._table.update_if(
                LEASE_PK, META, "SET #holder = :holder, #expires = :expires ADD #fence :one",
                "attribute_not_exists(#pk) OR #expires < :now OR #holder = :holder",
                {":holder": holder, ":expires": _ms(now + seconds), ":one": 1, ":now": _ms(now)}, _LEASE_NAMES,
            )  # fmt: skip
        except ConditionFailed:
            return None
        return _lease_from_item(item)

    def release_lease(self, lease: AllocatorLease) -> None:
        with contextlib.suppress(ConditionFailed):  # taken over already: nothing to release
            self._table.update_if(
                LEASE_PK, META, "SET #expires = :expired", _HOLDS_LEASE,
                {**_lease_values(lease), ":expired": 0}, _LEASE_NAMES,
            )  # fmt: skip

    def lease(self) -> AllocatorLease | None:
        item = self._table.get(LEASE_PK, META)
        return _lease_from_item(item) if item else None


_LEASE_NAMES = {"#holder": "holder", "#fence": "fence", "#expires": "lease_expires_at", "#pk": PK}


def _lease_values(lease: AllocatorLease) -> dict[str, object]:
    return {":holder": lease.holder, ":fence": lease.fence}


def _ms(epoch_seconds: float) -> int:
    """Epoch milliseconds: DynamoDB numbers from Python need no float (boto3 refuses floats)."""
    return int(epoch_seconds * 1000)


def _lease_from_item(item: Item) -> AllocatorLease:
    return AllocatorLease(holder=item["holder"], fence=item["fence"], expires_at=item["lease_expires_at"] / 1000)
