"""Pure arithmetic on spans of koi indexes, and the water-filling split the allocation uses."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

# Half-open [start, end) as a plain tuple: a 10,000-range allocation is rebuilt on every poll, and
# validating a pydantic model per intermediate range would dominate the cost.
Span = tuple[int, int]


def count_koi(spans: list[Span]) -> int:
    """Return how many indexes the spans cover (they must be disjoint)."""
    return sum(end - start for start, end in spans)


def complement(spans: list[Span], limit: int) -> list[Span]:
    """Return the indexes of ``[0, limit)`` outside the sorted, disjoint ``spans``."""
    gaps: list[Span] = []
    cursor = 0
    for start, end in spans:
        if start > cursor:
            gaps.append((cursor, start))
        cursor = end
    if cursor < limit:
        gaps.append((cursor, limit))
    return gaps


def take_lowest(spans: list[Span], amount: int) -> list[Span]:
    """Return the lowest ``amount`` indexes of the sorted ``spans`` (all of them if fewer)."""
    taken: list[Span] = []
    for start, end in spans:
        if amount <= 0:
            break
        size = min(amount, end - start)
        taken.append((start, start + size))
        amount -= size
    return taken


def drop_highest(spans: list[Span], amount: int) -> list[Span]:
    """Return the sorted ``spans`` without their highest ``amount`` indexes (at most all of them)."""
    kept = list(spans)
    while amount > 0:
        start, end = kept.pop()
        if end - start > amount:
            kept.append((start, end - amount))
            amount = 0
        else:
            amount -= end - start
    return kept


def merge_adjacent(spans: list[Span]) -> list[Span]:
    """Sort disjoint spans and merge those that touch: the canonical form of a set of indexes."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def water_fill(bins: Mapping[str, tuple[int, int]], amount: int) -> dict[str, int]:
    """Split ``amount`` over bins of ``(level, ceiling)`` so the lowest ``level / ceiling`` rise first.

    The water line settles at ``(amount + active levels) / active ceilings`` over the bins below it;
    integer shares are floors, and the leftover units go to the largest remainders (then by key).

    Args:
        bins: ``(level, ceiling)`` of each bin, by key; bins already at their ceiling get nothing.
        amount: How much to split; must not exceed the total free room ``sum(ceiling - level)``.

    Returns:
        The positive share of each bin that gets one, by key; the shares sum to ``amount``.
    """
    open_bins = sorted((k for k, (lvl, top) in bins.items() if lvl < top), key=lambda k: _ratio_key(bins, k))
    active: list[str] = []
    level_sum = ceiling_sum = 0
    for key in open_bins:
        level, ceiling = bins[key]
        if active and level * ceiling_sum >= (amount + level_sum) * ceiling:
            break  # this bin is already at or above the water line, and so are the rest
        active.append(key)
        level_sum += level
        ceiling_sum += ceiling
    water = amount + level_sum
    shares = {k: water * bins[k][1] // ceiling_sum - bins[k][0] for k in active}
    leftover = amount - sum(shares.values())
    for key in sorted(active, key=lambda k: (-(water * bins[k][1] % ceiling_sum), k))[:leftover]:
        shares[key] += 1
    return {k: share for k, share in shares.items() if share > 0}


def _ratio_key(bins: Mapping[str, tuple[int, int]], key: str) -> tuple[Fraction, str]:
    level, ceiling = bins[key]
    return Fraction(level, ceiling), key


def intersect(first: list[Span], second: list[Span]) -> list[Span]:
    """Return the indexes in both sorted, disjoint span lists, as sorted, disjoint spans."""
    common: list[Span] = []
    i = j = 0
    while i < len(first) and j < len(second):
        start, end = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if start < end:
            common.append((start, end))
        if first[i][1] <= second[j][1]:
            i += 1
        else:
            j += 1
    return common
