"""The allocator's change feed in memory: one counter every change able to alter the allocation moves."""

from __future__ import annotations

from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite


class MemoryPondChanges:
    def __init__(self, writes: MemoryUnitOfWork) -> None:
        self._writes = writes
        self._generation = 0

    def read(self) -> int:
        """The counter now (0 before the first change)."""
        return self._generation

    def move(self) -> None:
        """Move the counter on its own."""
        self._writes.commit([self.move_action()])

    def move_action(self) -> MemoryWrite:
        """Move the counter in the commit of the change itself."""
        return MemoryWrite(change=self._move)

    def _move(self) -> None:
        self._generation += 1
