"""One School-wide timer queue for every koi, instead of a sleeping task and an event-loop timer per koi.

At 20,000 koi a timer (and a wake-up of a task) per koi per wait made the event loop juggle tens of
thousands of handles and cancellations; one heap keyed by due time, driven by a single
``loop.call_later`` for its earliest entry, dispatches every koi's actions from one place.

:class:`TimerQueue` is the pure part (no clock, no loop): property-tested in tests/unit/test_timers.py.
:class:`KoiClock` drives it with the running event loop on Unix time (``time.time``), the clock the
koi's schedules are written in.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# The event loop's timers count whole milliseconds: asked to wake in less, uvloop wakes on its next turn,
# which finds nothing due yet and asks again, spinning the core until the time comes (with 20,000 koi the
# next due time is nearly always under a millisecond away). Waking up to this much late instead costs
# schedule lag of at most a millisecond, which the lag histogram shows.
MIN_WAKE_SECONDS = 0.001


def wake_delay(at: float, now: float) -> float:
    """How long to sleep until ``at``: nothing when it has come, else at least ``MIN_WAKE_SECONDS``."""
    if at <= now:
        return 0.0
    return max(at - now, MIN_WAKE_SECONDS)


class Timer(Generic[T]):
    """One entry of a :class:`TimerQueue`: ``item`` due at ``at``; cancelled entries are skipped."""

    __slots__ = ("at", "cancelled", "item")

    def __init__(self, at: float, item: T) -> None:
        self.at = at
        self.item = item
        self.cancelled = False


class TimerQueue(Generic[T]):
    """Items due at times: push, cancel, and pop what is due in (time, push order) order.

    Cancelling marks the entry and leaves it in the heap (removing from the middle of a heap costs
    O(n)); cancelled entries are dropped when they reach the top.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer[T]]] = []
        self._order = itertools.count()
        self._live = 0

    def __len__(self) -> int:
        """How many entries are still due (pushed, neither popped nor cancelled)."""
        return self._live

    def push(self, at: float, item: T) -> Timer[T]:
        """Queue ``item`` at ``at``; ties pop in push order. Raises ValueError for a NaN time."""
        if math.isnan(at):
            raise ValueError("a timer needs a time, got NaN")
        timer = Timer(at, item)
        heapq.heappush(self._heap, (at, next(self._order), timer))
        self._live += 1
        return timer

    def cancel(self, timer: Timer[T]) -> None:
        """Forget ``timer``; cancelling one already popped or cancelled does nothing."""
        if not timer.cancelled:
            timer.cancelled = True
            self._live -= 1

    def next_at(self) -> float | None:
        """When the earliest live entry is due, or None when none is left."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[T]:
        """Remove and return every live item due at or before ``now``, earliest first."""
        due: list[T] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if not timer.cancelled:
                timer.cancelled = True  # popped: a later cancel() must not count it twice
                self._live -= 1
                due.append(timer.item)
        return due


class KoiClock:
    """Calls callbacks at Unix times, from one queue and one event-loop timer for all koi of a School.

    Callbacks run in the event loop, in due order; one that raises is reported through the loop's
    exception handler and does not stop the others.
    """

    def __init__(self) -> None:
        self._queue: TimerQueue[Callable[[], None]] = TimerQueue()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def __len__(self) -> int:
        return len(self._queue)

    def call_at(self, at: float, callback: Callable[[], None]) -> Timer[Callable[[], None]]:
        """Run ``callback`` at Unix time ``at`` (at once if that has passed); must be called in the loop."""
        timer = self._queue.push(at, callback)
        if at < self._armed_at:
            self._arm(at)
        return timer

    def cancel(self, timer: Timer[Callable[[], None]]) -> None:
        # The loop timer stays armed: waking once for nothing is cheaper than re-arming on every cancel.
        self._queue.cancel(timer)

    def close(self) -> None:
        """Stop the loop timer (callbacks still queued never run)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed_at = math.inf

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(wake_delay(at, time.time()), self._fire)
        self._armed_at = at

    def _fire(self) -> None:
        self._handle, self._armed_at = None, math.inf
        loop = asyncio.get_running_loop()
        for callback in self._queue.pop_due(time.time()):
            try:
                callback()
            except Exception as exc:  # one koi's bug must not stop every other koi's clock
                loop.call_exception_handler({"message": "koi clock callback failed", "exception": exc})
        following = self._queue.next_at()
        if following is not None:
            self._arm(following)
