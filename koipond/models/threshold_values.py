"""How a threshold's values are read and written: units per kind of metric, and values for people.

Apart from :mod:`koipond.models.thresholds` (the grammar and the verdicts) so each stays one concern: a
limit is stored in one unit per kind (seconds, a fraction, a count, per second), read from the units people
write, written back in one that reads to the very same float, and described with just enough decimals to
tell an observed value from its limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

MetricKind = Literal["duration", "rate", "count", "per_second"]

# A unit -> (multiplier, divisor) to the stored value; dividing by an exact power of ten rounds once, so
# "300ms" is the very float 0.3, and str() can write a limit back in the same unit.
_DURATION_UNITS: Mapping[str, tuple[int, int]] = {
    "": (1, 1000),
    "us": (1, 1_000_000),
    "µs": (1, 1_000_000),
    "ms": (1, 1000),
    "s": (1, 1),
    "m": (60, 1),
}
_RATE_UNITS: Mapping[str, tuple[int, int]] = {"": (1, 1), "%": (1, 100)}
UNITS: Mapping[MetricKind, Mapping[str, tuple[int, int]]] = {
    "duration": _DURATION_UNITS,
    "rate": _RATE_UNITS,
    "count": {"": (1, 1)},
    "per_second": {"": (1, 1), "/s": (1, 1)},
}
_MAX_EXTRA_DIGITS = 6


def _plain(number: Decimal) -> str:
    """Positional digits, no exponent, no trailing zeros: what the grammar's VALUE reads."""
    digits = format(number, "f")
    return digits.rstrip("0").rstrip(".") if "." in digits else digits


def write_limit(kind: MetricKind, limit: float) -> str:
    """``limit`` in the unit people would write, when it reads back to the very same float; else exactly."""
    exact = Decimal(repr(limit))
    if kind == "duration":
        unit = "s" if limit >= 1 else "ms" if limit >= 1e-3 else "us"
    else:
        unit = "%" if kind == "rate" else ""
    multiplier, divisor = UNITS[kind][unit]
    written = _plain(exact * divisor / multiplier)
    if float(written) * multiplier / divisor == limit:
        return f"{written}{unit}"
    return _plain(exact) + ("s" if kind == "duration" else "")


def describe(kind: MetricKind, value: float, extra: int) -> str:
    """``value`` for people, with ``extra`` more decimals than usual (to tell two close values apart)."""
    if kind == "rate":
        return f"{_fixed(value * 100, 1 + extra)} %"
    if kind == "per_second":
        return f"{_fixed(value, 1 + extra)}/s"
    if kind == "count":
        return str(int(value)) if float(value).is_integer() else _rounded(value, 2 + extra)
    if value == 0 or not math.isfinite(value):
        return f"{value:g} ms" if value == 0 else f"{value} s"
    size = abs(value)
    scaled, unit = (value * 1e6, "µs") if size < 1e-3 else (value * 1e3, "ms") if size < 1 else (value, "s")
    decimals = max(0, 2 - math.floor(math.log10(abs(scaled)))) + extra
    return f"{_rounded(scaled, decimals)} {unit}"


def _fixed(value: float, decimals: int) -> str:
    """``value`` with ``decimals`` decimals, or as many more as it takes not to show a value that is not 0 as 0."""
    if value and math.isfinite(value) and abs(value) < 10.0**-decimals:
        decimals = 1 - math.floor(math.log10(abs(value)))
    return f"{value:.{decimals}f}"


def _rounded(value: float, decimals: int) -> str:
    text = _fixed(value, decimals)
    return text.rstrip("0").rstrip(".") if "." in text else text


def describe_amount(kind: MetricKind, amount: float, extra: int) -> str:
    """How far over or under: in points for a rate, else in the metric's unit."""
    if kind == "rate":
        return f"{_fixed(amount * 100, 1 + extra)} points"
    return describe(kind, amount, extra)


def extra_digits(kind: MetricKind, observed: float, limit: float) -> int:
    """The fewest extra decimals that show a different observed and limit, and a non-zero amount between them."""
    amount = abs(observed - limit)
    for extra in range(_MAX_EXTRA_DIGITS):
        same = describe(kind, observed, extra) == describe(kind, limit, extra)
        zero = not any(digit in "123456789" for digit in describe_amount(kind, amount, extra))
        if not (observed != limit and (same or zero)):
            return extra
    return _MAX_EXTRA_DIGITS
