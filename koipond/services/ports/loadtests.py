"""The port of loadtests: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from koipond.models.history import HistoryEvent
from koipond.models.tests import LoadTest, LoadTestStatus
from koipond.services.ports.writes import StagedWrite


class LoadTestRepository(Protocol):
    def get(self, test_id: str) -> LoadTest:
        """A consistent read of one test.

        Raises:
            NotFoundError: no such test.
        """
        ...

    def get_many(self, test_ids: Sequence[str]) -> list[LoadTest]:
        """Consistent reads of the given tests (unknown ids are left out)."""
        ...

    def list_by_status(self, status: LoadTestStatus | None = None) -> list[LoadTest]:
        """Tests by status (all when None), newest first; reads the index, so eventually consistent."""
        ...

    def create(self, test: LoadTest, event: HistoryEvent) -> None:
        """Store a new test with its history event.

        Raises:
            ConflictError: a test with that id exists already; nothing was written.
        """
        ...

    def save(
        self,
        test: LoadTest,
        expected_version: int,
        event: HistoryEvent,
        also: Sequence[StagedWrite] = (),
    ) -> LoadTest:
        """Store ``test`` as version ``expected_version + 1`` with its history event and ``also``.

        Raises:
            StaleVersionError: someone else changed the test since ``expected_version`` was read
                (``details["conflict"] == "test"``), or one of ``also``'s conditions failed
                (``details["conflict"] == "other"``); nothing was written.
        """
        ...
