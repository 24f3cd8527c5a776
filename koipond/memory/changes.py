"""The allocator's change feed in memory: one counter every change able to alter the allocation moves."""

from __future__ import annotations

from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite


class MemoryPondChanges:
    def __init__(self, writes: MemoryUnitOfWork) -> None:
        self._writes = writes
        self._generation = 0

    def read(self) -> int:
        return self._generation

    def move(self) -> None:
        self._writes.commit([self.move_action()])

    def move_action(self) -> MemoryWrite:
        return MemoryWrite(change=self._move)

    def _move(self) -> None:
        self._generation += 1
