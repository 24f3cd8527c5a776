"""The emergency-stop switch in memory."""

from __future__ import annotations

from koipond.errors import StaleVersionError
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.writes import MemoryUnitOfWork, put_versioned
from koipond.models.estop import EmergencyStop
from koipond.models.history import HistoryEvent

_SWITCH = "estop"


class MemoryEmergencyStopRepository:
    def __init__(self, writes: MemoryUnitOfWork, history: MemoryHistoryRepository) -> None:
        self._writes = writes
        self._history = history
        self._switch: dict[str, EmergencyStop] = {}

    def get(self) -> EmergencyStop:
        return self._switch.get(_SWITCH, EmergencyStop())

    def save(self, estop: EmergencyStop, expected_version: int, event: HistoryEvent) -> EmergencyStop:
        stored = estop.model_copy(update={"version": expected_version + 1})
        # Version 0 is the switch never flipped: nothing is stored yet.
        put = put_versioned(self._switch, _SWITCH, stored, expected_version or None)
        if self._writes.try_commit([put, self._history.append_action(event)]):
            raise StaleVersionError("the emergency stop changed meanwhile; read it again")
        return stored
