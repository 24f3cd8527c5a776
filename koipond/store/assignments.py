"""School assignments (one item per School) and the allocator's lease, whose token fences every write.

| item              | pk            | sk                 |
|-------------------|---------------|--------------------|
| School assignment | ``ASSIGNMENTS`` | ``SCHOOL#<id>``  |
| allocator lease   | ``ALLOCATOR`` | ``META``           |

All assignments share one partition so the allocator loads them in one Query when it takes the
lease; a poll reads only its own item. Every assignment write is a two-action transaction: a check
that the lease still names this holder and token, and the put conditioned on the item's version.
A holder that lost its lease (paused, partitioned, slow) can therefore never write again.
"""

from __future__ import annotations

import contextlib

from koipond.models.assignments import AllocatorLease, SchoolAssignment
from koipond.store.schema import DOC, META, PK, SK, VERSION
from koipond.store.table import SAME_VERSION, SAME_VERSION_OR_NEW, ConditionFailed, DynamoTable, Item

ASSIGNMENTS_PK = "ASSIGNMENTS"
LEASE_PK = "ALLOCATOR"
_HOLDS_LEASE = "#holder = :holder AND #fence = :fence"


class LostLeaseError(Exception):
    """This allocator's lease was taken over, or an assignment changed under it: stop and reload."""


def _assignment_sk(school_id: str) -> str:
    return f"SCHOOL#{school_id}"


def _to_item(assignment: SchoolAssignment) -> Item:
    return {
        PK: ASSIGNMENTS_PK,
        SK: _assignment_sk(assignment.school_id),
        VERSION: assignment.version,
        DOC: assignment.model_dump_json(exclude={"version"}),
    }


def _from_item(item: Item) -> SchoolAssignment:
    return SchoolAssignment.model_validate_json(item[DOC]).model_copy(update={"version": item[VERSION]})


class DynamoAssignmentRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def get(self, school_id: str) -> SchoolAssignment:
        """One School's assignment (strongly consistent; empty when it holds nothing)."""
        item = self._table.get(ASSIGNMENTS_PK, _assignment_sk(school_id))
        return _from_item(item) if item else SchoolAssignment(school_id=school_id)

    def list_all(self) -> list[SchoolAssignment]:
        """Every School's assignment: what a new lease holder starts from."""
        return [_from_item(item) for item in self._table.query(ASSIGNMENTS_PK)]

    def write(self, assignment: SchoolAssignment, lease: AllocatorLease) -> SchoolAssignment:
        """Store ``assignment`` as its next version, if ``lease`` is still held and nobody wrote in between.

        Raises:
            LostLeaseError: the lease moved on, or the item is not at ``assignment.version``.
        """
        stored = assignment.model_copy(update={"version": assignment.version + 1})
        condition = SAME_VERSION_OR_NEW if assignment.version == 0 else SAME_VERSION
        actions = [
            # Prevents: a holder whose lease expired (and was taken) writing over the new holder's work.
            self._table.check_action(LEASE_PK, META, _HOLDS_LEASE, _lease_values(lease), _LEASE_NAMES),
            # Prevents: two writes from one holder's stale view of the item (its state is reloaded then).
            self._table.put_action(_to_item(stored), condition, {":expected": assignment.version}),
        ]
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise LostLeaseError(f"assignment of {assignment.school_id} not written: lease or version moved") from exc
        return stored

    def remove(self, assignment: SchoolAssignment, lease: AllocatorLease) -> None:
        """Delete a dead School's empty assignment, under the same two guards as :meth:`write`.

        Raises:
            LostLeaseError: the lease moved on, or the item is not at ``assignment.version``.
        """
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
        """Renew ``current`` if this holder still has it, else take the lease if it is free or expired.

        Returns:
            The lease held now, or None when another live holder has it.
        """
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
        """Let the next holder take over at once (a clean shutdown), if the lease is still ours."""
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
