"""Writes that must happen together: a repository stages them, one ``commit`` applies them all or none.

A service never sees what a staged write is (a DynamoDB transaction item, a check-and-apply pair over
dicts): it only collects them from repositories and hands them back, either to a repository write that
leads the change (``LoadTestRepository.save(..., also=writes)``) or to :meth:`UnitOfWork.commit`, so an
event, a counter move and a rollout's step land in one transaction with the change they belong to.

Writes staged by one flavour of adapter are committed by the same flavour: the composition root wires
a unit of work and repositories over one store (a DynamoDB table, or one in-memory pond).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class StagedWrite(Protocol):
    """One write a repository prepared but did not apply; opaque to services."""


class UnitOfWork(Protocol):
    def commit(self, writes: Sequence[StagedWrite]) -> None:
        """Apply ``writes`` all or none, each only if its condition (as staged) holds.

        Raises:
            StaleVersionError: a condition failed; ``details["failed"]`` lists the failing writes' positions
                (empty when the store did not say which); nothing was written.
            TransactionConflictError: the writes kept racing another transaction; nothing was written.
            StoreError: the store failed.
        """
        ...
