"""The emergency-stop switch item."""

from __future__ import annotations

from koipond.errors import StaleVersionError
from koipond.models.estop import EmergencyStop
from koipond.models.history import HistoryEvent
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import ESTOP, ESTOP_PK
from koipond.store.schema import META
from koipond.store.table import SAME_VERSION, SAME_VERSION_OR_NEW, ConditionFailed, DynamoTable


class DynamoEmergencyStopRepository:
    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository) -> None:
        self._table = table
        self._history = history

    def get(self) -> EmergencyStop:
        item = self._table.get(ESTOP_PK, META)
        return ESTOP.from_item(item) if item else EmergencyStop()

    def save(self, estop: EmergencyStop, expected_version: int, event: HistoryEvent) -> EmergencyStop:
        stored, item = ESTOP.next_version(estop, expected_version)
        condition = SAME_VERSION_OR_NEW if expected_version == 0 else SAME_VERSION
        # Prevents: a lift and a pull racing so that the history disagrees with the final state.
        put = self._table.put_action(item, condition, {":expected": expected_version})
        try:
            self._table.transact([put, self._history.append_action(event)])
        except ConditionFailed as exc:
            raise StaleVersionError("the emergency stop changed meanwhile; read it again") from exc
        return stored
