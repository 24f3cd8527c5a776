"""Durations as people write them, the one grammar of koipond: ``90s``, ``10m``, ``2h``, ``7d``, ``1h30m``.

The CLI's options, the API's fields, guard queries and behavior files (a formation's ``every``) all read
durations with :func:`parse_duration`, so a duration that works in one place works in every other.

Grammar, after surrounding whitespace is dropped and letters are lowered: either a whole number of seconds
(``45``), or one or more ``<number><unit>`` parts with units ``s``, ``m``, ``h``, ``d``, ``w``, in any
order and repeated parts adding up (``1h30m``, ``30m1h``). Nothing else: no signs, fractions or spaces
between parts.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

DURATION_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
"""Unit letter -> seconds."""

_SECONDS = re.compile(r"\d+")
_PARTS = re.compile(r"(?:\d+[smhdw])+")
_PART = re.compile(r"(\d+)([smhdw])")
# format_duration's units: weeks are read but not written, so "7d" stays "7d" in every message.
_FORMAT_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def parse_duration(text: str) -> int:
    """Seconds in ``text``.

    Args:
        text: a duration such as ``90s``, ``10m``, ``2h``, ``1h30m``, ``7d``, ``1w`` or ``45`` (seconds).

    Returns:
        The duration in whole seconds (0 or more).

    Raises:
        ValueError: ``text`` is not a duration; the message names it and gives examples.
    """
    cleaned = text.strip().lower()
    if _SECONDS.fullmatch(cleaned):
        return int(cleaned)
    if not _PARTS.fullmatch(cleaned):
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 10m, 2h, 1h30m, 7d)")
    return sum(int(count) * DURATION_UNITS[unit] for count, unit in _PART.findall(cleaned))


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1h2m5s``; the inverse of :func:`parse_duration` for whole seconds (fractions are dropped)."""
    remaining = int(seconds)
    if remaining == 0:
        return "0s"
    out = []
    for unit, size in _FORMAT_UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def _duration_seconds(value: object) -> object:
    """``"7d"``, ``"90s"`` or ``"1h30m"`` as seconds; whole numbers pass through as seconds."""
    if isinstance(value, str):
        return parse_duration(value)  # its ValueError names the bad text
    if isinstance(value, bool) or not isinstance(value, int):
        # ValueError, not TypeError: pydantic turns only ValueError into a 422 naming the field.
        raise ValueError(f"expected a duration such as '15m' or '7d', or whole seconds; got {value!r}")
    return value


# One way to write a duration in every document and request body (rollout holds, deploy windows, behavior
# sources); ranges are the field's own business, checked where the field is.
DurationSeconds = Annotated[int, BeforeValidator(_duration_seconds)]
