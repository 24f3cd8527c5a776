"""Slack-style message timestamps (``"1718000000.000123"``), strictly increasing per channel."""

from __future__ import annotations

MICROS = 1_000_000


def format_ts(micros: int) -> str:
    """``seconds.microseconds`` with exactly six decimals."""
    seconds, fraction = divmod(micros, MICROS)
    return f"{seconds}.{fraction:06d}"


def next_ts_micros(last: int, now: int) -> int:
    """The next ts after ``last``: the current time, unless the clock stalled or stepped back."""
    return max(now, last + 1)


class TsSequence:
    """One channel's ts source; ts also identify messages, so two may never be equal."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = 0

    def next(self, now_seconds: float) -> str:
        self.last = next_ts_micros(self.last, round(now_seconds * MICROS))
        return format_ts(self.last)
