"""The port of estop: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from typing import Protocol

from koipond.models.estop import EmergencyStop
from koipond.models.history import HistoryEvent


class EmergencyStopRepository(Protocol):
    def get(self) -> EmergencyStop: ...

    def save(self, estop: EmergencyStop, expected_version: int, event: HistoryEvent) -> EmergencyStop:
        """Flip the switch as version ``expected_version + 1``, with its history event.

        Raises:
            StaleVersionError: someone flipped it in between (two people pulling it at once).
        """
        ...
