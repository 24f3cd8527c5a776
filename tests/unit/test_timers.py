"""The School-wide timer queue: every timer fires once, in time order, none lost, cancelled ones never."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from school_container.timers import MIN_WAKE_SECONDS, KoiClock, TimerQueue, wake_delay

times = st.floats(min_value=0, max_value=1000, allow_nan=False)
# A run: timers pushed at times, some cancelled, then popped at increasing "now"s.
pushes = st.lists(st.tuples(times, st.booleans()), max_size=60)
nows = st.lists(times, max_size=10).map(sorted)


@given(pushes, nows)
def test_every_live_timer_pops_exactly_once_in_time_order(
    plan: list[tuple[float, bool]], checkpoints: list[float]
) -> None:
    queue: TimerQueue[int] = TimerQueue()
    timers = [queue.push(at, i) for i, (at, _) in enumerate(plan)]
    for timer, (_, cancel) in zip(timers, plan, strict=True):
        if cancel:
            queue.cancel(timer)
    popped: list[int] = []
    for now in [*checkpoints, math.inf]:
        due = queue.pop_due(now)
        assert all(plan[i][0] <= now for i in due)
        popped += due
    live = [i for i, (_, cancel) in enumerate(plan) if not cancel]
    # Each live timer exactly once, none cancelled, ordered by time and then by push order.
    assert popped == sorted(live, key=lambda i: (plan[i][0], i))
    assert len(queue) == 0
    assert queue.next_at() is None


@given(pushes, times)
def test_next_at_is_the_earliest_live_time_and_len_counts_live_ones(plan: list[tuple[float, bool]], now: float) -> None:
    queue: TimerQueue[int] = TimerQueue()
    for i, (at, cancel) in enumerate(plan):
        timer = queue.push(at, i)
        if cancel:
            queue.cancel(timer)
            queue.cancel(timer)  # twice: still counted once
    live = [at for at, cancel in plan if not cancel]
    assert len(queue) == len(live)
    assert queue.next_at() == (min(live) if live else None)
    queue.pop_due(now)
    left = [at for at in live if at > now]
    assert len(queue) == len(left)
    assert queue.next_at() == (min(left) if left else None)


@given(pushes)
def test_cancelling_after_a_pop_changes_nothing(plan: list[tuple[float, bool]]) -> None:
    queue: TimerQueue[int] = TimerQueue()
    timers = [queue.push(at, i) for i, (at, _) in enumerate(plan)]
    popped = queue.pop_due(500.0)
    for timer in timers:
        if timer.item in popped:
            queue.cancel(timer)  # a koi stopping just after its timer fired
    assert len(queue) == sum(1 for at, _ in plan if at > 500.0)


def test_a_nan_time_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        TimerQueue[int]().push(math.nan, 1)


def test_the_clock_runs_callbacks_in_due_order_and_skips_cancelled_ones() -> None:
    async def run() -> list[str]:
        clock, fired = KoiClock(), []
        done = asyncio.get_running_loop().create_future()
        now = time.time()
        clock.call_at(now + 0.03, lambda: fired.append("c"))
        clock.call_at(now + 0.01, lambda: fired.append("a"))
        dropped = clock.call_at(now + 0.02, lambda: fired.append("never"))
        clock.call_at(now - 5, lambda: fired.append("late"))  # already due: runs at once
        clock.call_at(now + 0.04, lambda: done.set_result(None))
        clock.cancel(dropped)
        await asyncio.wait_for(done, timeout=10)
        clock.close()
        return fired

    assert asyncio.run(run()) == ["late", "a", "c"]


def test_a_failing_callback_is_reported_and_the_others_still_run() -> None:
    async def run() -> tuple[list[str], list[object]]:
        loop = asyncio.get_running_loop()
        reported: list[object] = []
        loop.set_exception_handler(lambda _, context: reported.append(context["exception"]))
        clock, fired = KoiClock(), []
        done = loop.create_future()
        now = time.time()

        def broken() -> None:
            raise RuntimeError("koi bug")

        clock.call_at(now, broken)
        clock.call_at(now, lambda: fired.append("next"))
        clock.call_at(now + 0.01, lambda: done.set_result(None))
        await asyncio.wait_for(done, timeout=10)
        return fired, reported

    fired, reported = asyncio.run(run())
    assert fired == ["next"]
    assert [str(e) for e in reported] == ["koi bug"]


@given(times, times)
def test_the_clock_never_asks_the_loop_for_a_wake_up_it_cannot_keep(at: float, now: float) -> None:
    """Under a millisecond the loop wakes on its next turn and finds nothing due: a spin, not a sleep."""
    delay = wake_delay(at, now)
    if at <= now:
        assert delay == 0.0
    else:
        assert delay >= max(at - now, MIN_WAKE_SECONDS)
        assert delay <= max(at - now, MIN_WAKE_SECONDS)
