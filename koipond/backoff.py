"""Exponential backoff with full jitter, the retry delay AWS recommends for contended writes."""

from __future__ import annotations

import random


def full_jitter_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """A delay uniform over ``[0, min(cap, base * 2**attempt)]`` before retry number ``attempt + 1``.

    Args:
        attempt: how many tries have failed so far, minus one (0 after the first failure).
        base: the ceiling after the first failure, seconds.
        cap: the ceiling never exceeds this, seconds.
        rng: the source of jitter (seeded in tests), so racing writers spread out instead of colliding again.
    """
    return rng.uniform(0.0, min(cap, base * 2 ** min(attempt, 30)))
