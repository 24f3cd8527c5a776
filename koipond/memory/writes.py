"""The in-memory unit of work: staged writes are (condition, change) pairs checked and applied under one lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeVar

from koipond.errors import StaleVersionError

K = TypeVar("K")
V = TypeVar("V")
# Every versioned model names its optimistic-locking counter ``version``.
_version_of = attrgetter("version")


def _always() -> bool:
    return True


@dataclass(frozen=True)
class MemoryWrite:
    """One staged write: ``change`` runs only if every write of its commit ``holds`` beforehand."""

    change: Callable[[], object]
    holds: Callable[[], bool] = _always


class MemoryUnitOfWork:
    """One pond's lock: every commit checks all its conditions and applies all its changes under it.

    Conditions are checked against the state before any change of the same commit, as DynamoDB checks
    a transaction's conditions, so the two stores fail the same writes.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def commit(self, writes: Sequence[object]) -> None:
        failed = self.try_commit(writes)
        if failed:
            raise StaleVersionError(
                "what these writes were decided on changed meanwhile; read it again and retry", {"failed": failed}
            )

    def try_commit(self, writes: Sequence[object]) -> list[int]:
        """Apply ``writes`` if every condition holds; the positions of those that failed (then nothing is applied)."""
        staged = [_memory_write(write) for write in writes]
        with self.lock:
            failed = [position for position, write in enumerate(staged) if not write.holds()]
            if not failed:
                for write in staged:
                    write.change()
        return failed


def _memory_write(write: object) -> MemoryWrite:
    if not isinstance(write, MemoryWrite):
        # A write staged by another store: the composition wired two stores together.
        raise TypeError(f"not an in-memory write: {write!r}")
    return write


def put_new(items: dict[K, V], key: K, value: V) -> MemoryWrite:
    """Store ``value`` under ``key`` only if nothing is there yet."""
    return MemoryWrite(change=lambda: items.__setitem__(key, value), holds=lambda: key not in items)


def put_versioned(items: dict[K, Any], key: K, value: Any, expected_version: int | None) -> MemoryWrite:
    """Store ``value`` under ``key`` only if the stored version is ``expected_version`` (None: nothing stored)."""

    def holds() -> bool:
        stored = items.get(key)
        return (None if stored is None else _version_of(stored)) == expected_version

    return MemoryWrite(change=lambda: items.__setitem__(key, value), holds=holds)


def delete(items: dict[K, Any], key: K) -> MemoryWrite:
    """Remove ``key`` (removing a missing key is not an error, as in DynamoDB)."""
    return MemoryWrite(change=lambda: items.pop(key, None))
