"""The port of assignments: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from typing import Protocol

from koipond.models.assignments import AllocatorLease, SchoolAssignment


class AssignmentRepository(Protocol):
    def get(self, school_id: str) -> SchoolAssignment:
        """One School's assignment (strongly consistent; empty when it holds nothing)."""
        ...

    def list_all(self) -> list[SchoolAssignment]:
        """Every School's assignment: what a new lease holder starts from."""
        ...

    def write(self, assignment: SchoolAssignment, lease: AllocatorLease, stamp: int, now: float) -> SchoolAssignment:
        """Store ``assignment`` under ``stamp`` (a stamp never used before), if ``lease`` is still held
        and nobody wrote in between; the School's heartbeat item learns the stamp in the same write.

        Raises:
            LostLeaseError: the lease moved on, or the item is not at ``assignment.version``.
        """
        ...

    def remove(self, assignment: SchoolAssignment, lease: AllocatorLease) -> None:
        """Delete a dead School's empty assignment, under the same two guards as :meth:`write`.

        Raises:
            LostLeaseError: the lease moved on, or the item is not at ``assignment.version``.
        """
        ...

    def hold_lease(
        self, holder: str, now: float, seconds: float, current: AllocatorLease | None
    ) -> AllocatorLease | None:
        """Renew ``current`` if this holder still has it, else take the lease if it is free or expired.

        Returns:
            The lease held now, or None when another live holder has it.
        """
        ...

    def release_lease(self, lease: AllocatorLease) -> None:
        """Let the next holder take over at once (a clean shutdown), if the lease is still ours."""
        ...

    def lease(self) -> AllocatorLease | None:
        """The lease as stored now, whoever holds it (None before anyone took it)."""
        ...
