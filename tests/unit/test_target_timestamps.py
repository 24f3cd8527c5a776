"""Slack-style ts strings: six decimals, strictly increasing per channel whatever the clock does."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from slacklike_target.timestamps import TsSequence, format_ts, next_ts_micros


@given(st.lists(st.floats(min_value=0, max_value=4e9, allow_nan=False), min_size=1, max_size=50))
def test_ts_strictly_increase_even_when_the_clock_stalls_or_steps_back(clock_readings: list[float]) -> None:
    sequence = TsSequence()
    stamps = [sequence.next(now) for now in clock_readings]
    values = [Decimal(ts) for ts in stamps]
    assert all(later > earlier for earlier, later in pairwise(values))
    assert len(set(stamps)) == len(stamps)


@given(st.integers(min_value=0, max_value=10**16))
def test_a_ts_is_seconds_dot_six_digit_microseconds(micros: int) -> None:
    ts = format_ts(micros)
    seconds, fraction = ts.split(".")
    assert len(fraction) == 6
    assert int(seconds) * 1_000_000 + int(fraction) == micros


def test_the_clock_wins_when_it_moves_forward() -> None:
    assert next_ts_micros(last=5, now=100) == 100
    assert next_ts_micros(last=100, now=100) == 101
    assert next_ts_micros(last=100, now=7) == 101


def test_a_fresh_sequence_uses_the_clock() -> None:
    assert TsSequence().next(1718000000.000123) == "1718000000.000123"
