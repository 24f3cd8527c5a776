"""Keeping the garbage collector out of the koi's way.

A School holds millions of long-lived objects (koi, their websockets, schedules). CPython's full
collections walk all of them, pausing every koi for seconds at 20,000 koi. Long-lived objects are
moved to the permanent generation (``gc.freeze``) as they accumulate, and young collections run less
often, so the collector only looks at what is new.
"""

from __future__ import annotations

import asyncio
import gc

FREEZE_EVERY_SECONDS = 10.0
YOUNG_THRESHOLD = 20_000  # CPython's default is 700: far too eager for this many live objects


def tune_collector() -> None:
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


async def freeze_survivors(every: float = FREEZE_EVERY_SECONDS) -> None:
    """Until cancelled: collect the young generations, then freeze what survived."""
    while True:
        await asyncio.sleep(every)
        gc.collect(1)  # garbage dies first, so what is frozen is what lives on
        gc.freeze()
