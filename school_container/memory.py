"""Keeping the garbage collector out of the koi's way.

A School holds millions of long-lived objects (koi, their websockets, schedules). CPython's full
collections walk all of them, pausing every koi for seconds at 20,000 koi. Long-lived objects are
moved to the permanent generation (``gc.freeze``) as they accumulate, and young collections run less
often, so the collector only looks at what is new.

Ten times a second, not every ten seconds: what a young collection walks is everything that
survived since the last freeze (at 20,000 koi, mostly the futures of ~7,000 websocket reads a second).
Ten seconds of survivors made one collection take 0.1-0.2 s of CPU, a stall for every koi; a tenth
of a second's worth takes milliseconds (`make bench`: longest 19 ms, ~4 % of the core in all at
20,000 koi), and freezing resets the young count, so automatic collections rarely run in between.
The price: a reference cycle that is still alive at a freeze and dies later is never collected.
Koi make almost none (a few dozen objects a second become cyclic garbage, nearly all within
milliseconds of their making, so the collection right before each freeze takes them).
"""

from __future__ import annotations

import asyncio
import gc

FREEZE_EVERY_SECONDS = 0.1
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
