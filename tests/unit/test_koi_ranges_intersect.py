"""Intersecting span lists, which the allocator uses to keep only what a School holds before and after."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from koipond.services.koi_ranges import Span, intersect, merge_adjacent


def _spans(indexes: set[int]) -> list[Span]:
    return merge_adjacent([(i, i + 1) for i in indexes])


@given(st.sets(st.integers(0, 200)), st.sets(st.integers(0, 200)))
def test_intersection_holds_exactly_the_indexes_in_both(first: set[int], second: set[int]) -> None:
    common = intersect(_spans(first), _spans(second))
    assert {i for start, end in common for i in range(start, end)} == first & second
    assert common == sorted(common)
    assert all(start < end for start, end in common)


def test_touching_spans_share_nothing() -> None:
    assert intersect([(0, 100)], [(100, 200)]) == []
    assert intersect([(0, 100), (200, 300)], [(50, 250)]) == [(50, 100), (200, 250)]
