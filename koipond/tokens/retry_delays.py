"""How long a failed token batch waits before its next try: exponential backoff with full jitter."""

from __future__ import annotations

import random


def backoff_ceiling(receive_count: int, base: int = 2, cap: int = 900) -> int:
    """The longest delay after the ``receive_count``-th failed receive: ``min(cap, base * 2**(n-1))``."""
    if receive_count <= 1:
        return min(cap, base)
    # Past 2**20 every realistic cap is reached; stop before the power gets huge.
    return min(cap, base * (1 << min(receive_count - 1, 20)))


def visibility_backoff_seconds(receive_count: int, rng: random.Random, base: int = 2, cap: int = 900) -> int:
    """Seconds to hide a failed message before its next try: exponential backoff with full jitter.

    Uniform over ``[0, backoff_ceiling(receive_count, base, cap)]`` (whole seconds, as SQS takes them),
    so retries of many failing batches spread out instead of arriving together.

    Args:
        receive_count: the message's ApproximateReceiveCount (1 on its first delivery).
        rng: the source of jitter (seeded in tests).
        base: the ceiling after the first failure, seconds.
        cap: the ceiling never exceeds this, seconds (SQS allows up to 43,200).
    """
    ceiling = backoff_ceiling(receive_count, base, cap)
    return min(ceiling, int(rng.random() * (ceiling + 1)))
