"""The allocation's properties for ponds of 1 to 1,000 Schools, in the allocator's units (blocks of koi):
disjoint, complete when capacity suffices, within capacity, and a School's death moves only its koi, to few
Schools."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koipond.models.allocation import Allocation
from koipond.services.allocation import KoiDemand, SchoolView, allocate_koi
from koipond.services.allocator import BLOCK_TOLERANCE

SCALE = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# Each School's capacity in blocks: 1 to 1,000 Schools, capacities spread around a drawn base (big lists
# drawn element by element would exceed hypothesis's budget).
capacities = st.builds(
    lambda count, base, spread: [max(0, base + (n * 7919) % (spread + 1) - spread // 2) for n in range(count)],
    st.sampled_from([1, 2, 7, 100, 1000]),
    st.integers(0, 60),
    st.integers(0, 20),
)
ponds = st.tuples(capacities, st.lists(st.integers(1, 400), min_size=1, max_size=40))  # demands in blocks


def _pond(capacities: list[int], demands: list[int]) -> tuple[list[SchoolView], list[KoiDemand]]:
    schools = [SchoolView(f"school-{n:04d}", cap, live=True) for n, cap in enumerate(capacities)]
    return schools, [KoiDemand(f"lt-{n:03d}", blocks) for n, blocks in enumerate(demands)]


def _held(allocation: Allocation) -> dict[str, list[tuple[int, int, str]]]:
    held: dict[str, list[tuple[int, int, str]]] = {}
    for school_id, tests in allocation.assignments.items():
        for test_id, ranges in tests.items():
            held.setdefault(test_id, []).extend((r.start, r.end, school_id) for r in ranges)
    return held


def _assert_safe(allocation: Allocation, schools: Sequence[SchoolView], demands: Sequence[KoiDemand]) -> None:
    capacity = {s.school_id: s.capacity for s in schools if s.live}
    for school_id in allocation.assignments:
        assert allocation.load_of_school(school_id) <= capacity[school_id], f"{school_id} over capacity"
    wanted = {d.test_id: d.koi for d in demands}
    for test_id, spans in _held(allocation).items():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), f"{test_id} held twice"
        assert spans[-1][1] <= wanted[test_id], f"{test_id} holds more than it asks for"
    if sum(wanted.values()) <= sum(capacity.values()):
        for test_id, koi in wanted.items():
            assert sum(allocation.koi_of_test(test_id).values()) == koi, f"{test_id} incomplete"


@SCALE
@given(ponds)
def test_a_pond_of_up_to_1000_schools_is_allocated_disjoint_complete_and_within_capacity(
    pond: tuple[list[int], list[int]],
) -> None:
    schools, demands = _pond(*pond)
    allocation = allocate_koi(Allocation(), demands, schools, tolerance=BLOCK_TOLERANCE)
    _assert_safe(allocation, schools, demands)
    assert allocate_koi(allocation, demands, schools, tolerance=BLOCK_TOLERANCE) == allocation


@SCALE
@given(ponds, st.data())
def test_a_schools_death_moves_only_its_own_koi(pond: tuple[list[int], list[int]], data: st.DataObject) -> None:
    schools, demands = _pond(*pond)
    settled = allocate_koi(Allocation(), demands, schools, tolerance=BLOCK_TOLERANCE)
    dead = data.draw(st.sampled_from([s.school_id for s in schools]))
    after_death = [SchoolView(s.school_id, s.capacity, s.school_id != dead) for s in schools]
    moved = allocate_koi(settled, demands, after_death, tolerance=BLOCK_TOLERANCE)
    _assert_safe(moved, after_death, demands)
    before, after = _held(settled), _held(moved)
    gained = 0
    for test_id, spans in after.items():
        owners = {(s, e): school for s, e, school in before.get(test_id, [])}
        for start, end, school in spans:
            kept = sum(max(0, min(end, e) - max(start, s)) for (s, e), owner in owners.items() if owner == school)
            gained += (end - start) - kept
    assert gained <= settled.load_of_school(dead), "koi moved that the dead School did not hold"


# Ponds with room to spare (a death is absorbed): 2 to 1,000 Schools filled to 30-90 %, in 1 to 40 tests.
roomy_ponds = st.builds(
    lambda caps, percent, tests: (caps, [max(1, sum(caps) * percent // 100 // tests)] * tests),
    capacities.filter(lambda caps: len(caps) > 1 and sum(caps) > 0),
    st.integers(30, 90),
    st.integers(1, 40),
)


@SCALE
@given(roomy_ponds, st.data())
def test_a_schools_death_fills_few_schools_up_to_the_tolerance_instead_of_levelling_all(
    pond: tuple[list[int], list[int]], data: st.DataObject
) -> None:
    """Each School that receives costs a write: of the survivors that were not far below their new fair
    share, all but the last to receive end at the most they may hold (capacity, or fair share + 10 %, at
    least one block). Levelling instead would hand one block to each of most of the pond."""
    schools, demands = _pond(*pond)
    settled = allocate_koi(Allocation(), demands, schools, tolerance=BLOCK_TOLERANCE)
    dead = data.draw(st.sampled_from([s.school_id for s in schools]))
    after_death = [SchoolView(s.school_id, s.capacity, s.school_id != dead) for s in schools]
    moved = allocate_koi(settled, demands, after_death, tolerance=BLOCK_TOLERANCE)
    live = [s for s in after_death if s.live]
    total_capacity = sum(s.capacity for s in live)
    settled_total = min(sum(d.koi for d in demands), total_capacity)
    short_of_bound = 0
    for school in live:
        was, now = settled.load_of_school(school.school_id), moved.load_of_school(school.school_id)
        fair = Fraction(settled_total * school.capacity, total_capacity) if total_capacity else Fraction(0)
        if now <= was or was < fair * Fraction(9, 10):
            continue  # received nothing, or was levelled with the Schools far below their share
        bound = min(school.capacity, math.floor(fair + max(fair / 10, Fraction(1))))
        short_of_bound += now < bound
    assert short_of_bound <= 1
