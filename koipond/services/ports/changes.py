"""The port of pond changes: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from typing import Protocol

from koipond.services.ports.writes import StagedWrite


class PondChanges(Protocol):
    def read(self) -> int:
        """The counter now (strongly consistent; 0 before the first change)."""
        ...

    def move(self) -> None:
        """Move the counter on its own (after a heartbeat, which is not a transaction)."""
        ...

    def move_action(self) -> StagedWrite:
        """Move the counter in the transaction of the change itself (``ADD`` keeps concurrent moves exact)."""
        ...
