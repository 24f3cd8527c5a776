"""Retry backoff of failed token batches: exponential ceilings, full jitter, always within bounds."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from koipond.tokens.retry_delays import backoff_ceiling, visibility_backoff_seconds

receive_counts = st.integers(min_value=1, max_value=10_000)
bases = st.integers(min_value=1, max_value=900)
caps = st.integers(min_value=1, max_value=43_200)


class Highest(random.Random):
    """Jitter that always draws the top of its range."""

    def random(self) -> float:
        return 0.999_999_999


@given(receive_counts, bases, caps)
def test_the_ceiling_never_shrinks_as_receives_grow(count: int, base: int, cap: int) -> None:
    assert backoff_ceiling(count, base, cap) <= backoff_ceiling(count + 1, base, cap)


@given(receive_counts, bases, caps, st.integers(min_value=0, max_value=2**32))
def test_a_delay_is_whole_seconds_between_zero_and_the_ceiling_and_never_above_the_cap(
    count: int, base: int, cap: int, seed: int
) -> None:
    delay = visibility_backoff_seconds(count, random.Random(seed), base, cap)
    assert isinstance(delay, int)
    assert 0 <= delay <= backoff_ceiling(count, base, cap) <= cap


@given(bases, caps)
def test_the_ceiling_starts_at_the_base_and_doubles_until_the_cap(base: int, cap: int) -> None:
    assert backoff_ceiling(1, base, cap) == min(base, cap)
    for count in range(1, 30):
        assert backoff_ceiling(count + 1, base, cap) == min(cap, 2 * backoff_ceiling(count, base, cap))


@given(receive_counts, bases, caps)
def test_the_top_of_the_jitter_is_the_ceiling(count: int, base: int, cap: int) -> None:
    assert visibility_backoff_seconds(count, Highest(), base, cap) == backoff_ceiling(count, base, cap)


def test_full_jitter_spreads_retries_over_the_whole_range() -> None:
    rng = random.Random(7)
    delays = [visibility_backoff_seconds(8, rng, base=2, cap=900) for _ in range(2000)]
    assert min(delays) <= 256 // 10
    assert max(delays) >= 256 * 9 // 10
    assert len(set(delays)) > 200


def test_default_delays_grow_from_two_seconds_to_fifteen_minutes() -> None:
    assert [backoff_ceiling(n) for n in range(1, 12)] == [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
