"""Pure allocation decision: which live School runs which koi indexes of which running test."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from koipond.models.allocation import Allocation, KoiRange
from koipond.services.koi_ranges import (
    Span,
    complement,
    count_koi,
    drop_highest,
    merge_adjacent,
    take_lowest,
    water_fill,
)

# school_id -> test_id -> spans; sorted and disjoint until `_fill_gaps` appends, canonical on output.
Holdings = dict[str, dict[str, list[Span]]]


@dataclass(frozen=True)
class KoiDemand:
    """How many koi one running test wants now (already reduced by its ``shed_percent``)."""

    test_id: str
    koi: int

    def __post_init__(self) -> None:
        if self.koi < 0:
            raise ValueError(f"test {self.test_id!r} demands {self.koi} koi; must be >= 0")


@dataclass(frozen=True)
class SchoolView:
    """A School as the allocation sees it: how many koi it will run and whether it still polls."""

    school_id: str
    capacity: int
    live: bool

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise ValueError(f"school {self.school_id!r} has capacity {self.capacity}; must be >= 0")


@dataclass(frozen=True)
class RebalanceTolerance:
    """How far above its fair share a School may sit before its excess koi are moved elsewhere."""

    ratio: Fraction = Fraction(1, 10)
    min_koi: int = 50

    def __post_init__(self) -> None:
        # At least one koi of slack absorbs the rounding of fractional fair shares, so an allocation
        # that was just rebalanced never qualifies for rebalancing again (idempotence).
        if self.ratio < 0 or self.min_koi < 1:
            raise ValueError("rebalance tolerance needs ratio >= 0 and min_koi >= 1")


DEFAULT_TOLERANCE = RebalanceTolerance()


def is_live(last_poll_at: datetime, now: datetime, poll_interval_seconds: float, missed_polls: int = 3) -> bool:
    """Tell whether a School still counts as live.

    Args:
        last_poll_at: When the School last polled (timezone-aware).
        now: The current time (timezone-aware).
        poll_interval_seconds: The interval Schools are told to poll at.
        missed_polls: How many intervals a School may miss before it is considered dead.

    Returns:
        True while ``now - last_poll_at <= missed_polls * poll_interval_seconds``.
    """
    return now - last_poll_at <= timedelta(seconds=missed_polls * poll_interval_seconds)


# A pond where no School polled for one interval and this much more is quiet: the silence is the
# Keeper's or its table's (every School polls once an interval), so it does not count against anyone.
QUIET_SLACK_SECONDS = 1.0


@dataclass(frozen=True)
class QuietWindow:
    """A stretch of time (epoch seconds) in which no School was heard: the Keeper or its table was down."""

    start: float
    end: float


def heard_until(newest_poll_at: float | None, now: float, poll_interval_seconds: float) -> float:
    """Until when (epoch seconds) the pond was heard: ``now`` while some School polled within an interval
    (and slack); otherwise the moment it went quiet, so a School's silence stops growing then.

    Args:
        newest_poll_at: The last poll of any School (None: no School is known).
        now: The current time.
        poll_interval_seconds: The interval Schools are told to poll at.
    """
    if newest_poll_at is None:
        return now
    return min(now, newest_poll_at + poll_interval_seconds + QUIET_SLACK_SECONDS)


def silent_for(last_poll_at: float, until: float, quiet: QuietWindow | None = None) -> float:
    """Seconds a School was silent while the pond was heard: from its last poll to ``until``, less the
    part of that inside ``quiet``. A School is dead from its own silence, never from the Keeper's."""
    silence = until - last_poll_at
    if quiet is not None:
        silence -= max(0.0, min(quiet.end, until) - max(quiet.start, last_poll_at))
    return silence


def allocate_koi(
    previous: Allocation,
    demands: Sequence[KoiDemand],
    schools: Sequence[SchoolView],
    *,
    tolerance: RebalanceTolerance = DEFAULT_TOLERANCE,
) -> Allocation:
    """Recompute the allocation from the previous one with as little churn as possible.

    Steps: keep what live Schools already hold of running tests, clipped to each demand (scaling
    down stops the highest indexes); trim Schools over capacity; move the excess of Schools far above
    their fair share; hand the unheld indexes out: first to Schools far below their fair share, levelling
    them (water-filling), then to as few Schools as possible, each up to the most it may hold within
    tolerance (see :func:`_grants`).

    Args:
        previous: The stored allocation; overlapping claims in it are resolved, earliest start first.
        demands: One entry per running test; tests absent or with 0 koi lose all their koi.
        schools: Every School known; dead or absent Schools lose all their koi.
        tolerance: How far above its fair share a School may stay without being rebalanced.

    Returns:
        A canonical allocation with ``previous.version`` (the caller bumps it when storing).

    Raises:
        ValueError: A test id or School id appears twice.
    """
    wanted = _demand_by_test(demands)
    capacity = _live_capacity(schools)
    known: dict[Span, KoiRange] = {}
    holdings = _surviving_holdings(previous, wanted, capacity, known)
    loads = {school_id: _load(tests) for school_id, tests in holdings.items()}
    _trim_to_capacity(holdings, loads, capacity)
    settled_total = min(sum(wanted.values()), sum(capacity.values()))
    _rebalance(holdings, loads, capacity, settled_total, tolerance)
    _fill_gaps(holdings, loads, wanted, capacity, _Fairness(settled_total, sum(capacity.values()), tolerance))
    return _to_allocation(previous.version, holdings, known)


def _demand_by_test(demands: Sequence[KoiDemand]) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for demand in demands:
        if demand.test_id in wanted:
            raise ValueError(f"test {demand.test_id!r} appears twice in the demands")
        wanted[demand.test_id] = demand.koi
    return {test_id: koi for test_id, koi in wanted.items() if koi > 0}


def _live_capacity(schools: Sequence[SchoolView]) -> dict[str, int]:
    capacity: dict[str, int] = {}
    seen: set[str] = set()
    for school in schools:
        if school.school_id in seen:
            raise ValueError(f"school {school.school_id!r} appears twice")
        seen.add(school.school_id)
        if school.live:
            capacity[school.school_id] = school.capacity
    return capacity


def _surviving_holdings(
    previous: Allocation, wanted: Mapping[str, int], capacity: Mapping[str, int], known: dict[Span, KoiRange]
) -> Holdings:
    """Keep previous claims of live Schools on running tests, clipped to each test's demand.

    Fills ``known`` with the previous ranges so that unchanged ones are reused on output.
    """
    claims: dict[str, list[tuple[int, str, int]]] = {test_id: [] for test_id in wanted}
    for school_id, tests in previous.assignments.items():
        if school_id not in capacity:
            continue
        for test_id, ranges in tests.items():
            test_claims = claims.get(test_id)
            if test_claims is None:
                continue
            limit = wanted[test_id]
            for koi_range in ranges:
                start, end = koi_range.start, koi_range.end
                known[start, end] = koi_range
                if start < limit:
                    test_claims.append((start, school_id, min(end, limit)))
    holdings: Holdings = {school_id: {} for school_id in capacity}
    for test_id, test_claims in claims.items():
        test_claims.sort()
        _grant_first_claims(holdings, test_id, test_claims)
    return holdings


def _grant_first_claims(holdings: Holdings, test_id: str, claims: list[tuple[int, str, int]]) -> None:
    """Grant sorted claims in order so that an index claimed twice stays with its first claimant.

    The stored allocation is written atomically and never overlaps, but a hand-edited or corrupt
    document must not make two Schools run the same koi.
    """
    covered = 0
    for start, school_id, end in claims:
        start = max(start, covered)
        if start < end:
            holdings[school_id].setdefault(test_id, []).append((start, end))
            covered = end


def _trim_to_capacity(holdings: Holdings, loads: dict[str, int], capacity: Mapping[str, int]) -> None:
    for school_id, tests in holdings.items():
        excess = loads[school_id] - capacity[school_id]
        if excess > 0:
            _release_highest(tests, excess)
            loads[school_id] -= excess


@dataclass(frozen=True)
class _Fairness:
    """Each School's fair share of the settled load (in proportion to its capacity) and the tolerance
    around it, compared exactly in integers: ``fair = settled_total * capacity / total_capacity``."""

    settled_total: int
    total_capacity: int
    tolerance: RebalanceTolerance

    def ceil_fair(self, capacity: int) -> int:
        return -(-self.settled_total * capacity // self.total_capacity) if self.total_capacity else 0

    def highest_within(self, capacity: int) -> int:
        """The largest load that is not far above the fair share: ``floor(fair + max(ratio * fair, min_koi))``."""
        ratio = Fraction(self.tolerance.ratio)
        fair_scaled = self.settled_total * capacity
        scale = self.total_capacity * ratio.denominator
        slack = max(ratio.numerator * fair_scaled, self.tolerance.min_koi * scale)
        return (fair_scaled * ratio.denominator + slack) // scale if scale else 0

    def far_below(self, load: int, capacity: int) -> bool:
        """``load < (1 - ratio) * fair``: a School that joined, was emptied, or the pond grew under it."""
        ratio = Fraction(self.tolerance.ratio)
        scaled_load = load * self.total_capacity * ratio.denominator
        return scaled_load < self.settled_total * capacity * (ratio.denominator - ratio.numerator)


def _rebalance(
    holdings: Holdings,
    loads: dict[str, int],
    capacity: Mapping[str, int],
    settled_total: int,
    tolerance: RebalanceTolerance,
) -> None:
    """Bring Schools far above their fair share down to it; the released koi become gaps to fill.

    ``settled_total`` is the load after gap filling, so fair shares are those of the final state.
    Small imbalances are left alone: moving a koi restarts its websocket and session.
    """
    fairness = _Fairness(settled_total, sum(capacity.values()), tolerance)
    for school_id, tests in holdings.items():
        load = loads[school_id]
        excess = load - fairness.ceil_fair(capacity[school_id])
        if excess > 0 and load > fairness.highest_within(capacity[school_id]):
            _release_highest(tests, excess)
            loads[school_id] -= excess


def _release_highest(tests: dict[str, list[Span]], amount: int) -> None:
    """Drop ``amount`` koi from one School: the highest indexes of its largest test, then the next.

    Taking from one test at a time keeps the released koi in few contiguous ranges; ties between
    equally large tests go to the smaller test id so the choice is deterministic.
    """
    for test_id in sorted(tests, key=lambda t: (-count_koi(tests[t]), t)):
        if amount == 0:
            break
        taken = min(amount, count_koi(tests[test_id]))
        tests[test_id] = drop_highest(tests[test_id], taken)
        amount -= taken


def _fill_gaps(
    holdings: Holdings,
    loads: Mapping[str, int],
    wanted: Mapping[str, int],
    capacity: Mapping[str, int],
    fairness: _Fairness,
) -> None:
    """Hand unheld indexes, lowest first, to the Schools :func:`_grants` chooses."""
    gaps = _gaps(holdings, wanted)
    free = sum(capacity[school_id] - loads[school_id] for school_id in capacity)
    missing = {test_id: count_koi(spans) for test_id, spans in gaps.items()}
    amount = min(sum(missing.values()), free)
    if amount == 0:
        return
    # When capacity is short, every test is covered to a similar fraction instead of by test id.
    quotas = water_fill({t: (wanted[t] - missing[t], wanted[t]) for t in wanted}, amount)
    stream = [(t, s, e) for t in sorted(quotas) for s, e in take_lowest(gaps[t], quotas[t])]
    _hand_out(holdings, stream, _grants(loads, capacity, fairness, amount))


def _grants(loads: Mapping[str, int], capacity: Mapping[str, int], fairness: _Fairness, amount: int) -> dict[str, int]:
    """How many unheld koi each School receives; the grants sum to ``amount`` (at most the free room).

    1. Schools far below their fair share (new, emptied, or the demand grew a lot) are levelled up to it
       together (water-filling), so a new test on an empty pond is spread evenly.
    2. The rest goes to as few Schools as possible: lowest share of capacity first, each filled up to
       the most it may hold without being far above its fair share. Every School that receives koi
       costs a write and a re-read of its assignment, and koi missing meanwhile are load the service
       does not get: levelling a dead School's koi over the whole pond would hand one block to most
       Schools, while this hands it to a few. The result is within tolerance, so nothing is rebalanced.
    3. Only when every School is at that bound does the rest fill the remaining capacity evenly.
    """
    levels = dict(loads)
    grants: dict[str, int] = {}

    def give(shares: Mapping[str, int]) -> int:
        for school_id, share in shares.items():
            levels[school_id] += share
            grants[school_id] = grants.get(school_id, 0) + share
        return sum(shares.values())

    below = {
        school_id: (levels[school_id], min(cap, fairness.ceil_fair(cap)))
        for school_id, cap in capacity.items()
        if fairness.far_below(levels[school_id], cap)
    }
    room = sum(top - level for level, top in below.values() if top > level)
    amount -= give(water_fill(below, min(amount, room)))
    for school_id in sorted((s for s in capacity if capacity[s]), key=lambda s: (Fraction(levels[s], capacity[s]), s)):
        if amount == 0:
            break
        take = min(amount, min(capacity[school_id], fairness.highest_within(capacity[school_id])) - levels[school_id])
        if take > 0:
            amount -= give({school_id: take})
    if amount:
        give(water_fill({s: (levels[s], capacity[s]) for s in capacity}, amount))
    return grants


def _gaps(holdings: Holdings, wanted: Mapping[str, int]) -> dict[str, list[Span]]:
    held: dict[str, list[Span]] = {test_id: [] for test_id in wanted}
    for tests in holdings.values():
        for test_id, spans in tests.items():
            held[test_id].extend(spans)
    return {test_id: complement(sorted(held[test_id]), wanted[test_id]) for test_id in wanted}


def _hand_out(holdings: Holdings, stream: list[tuple[str, int, int]], grants: Mapping[str, int]) -> None:
    """Give each School, in id order, the next ``grants[school]`` koi of the stream of gaps."""
    queue = deque(stream)
    for school_id in sorted(grants):
        tests = holdings[school_id]
        need = grants[school_id]
        while need > 0:
            test_id, start, end = queue.popleft()
            taken = min(need, end - start)
            tests.setdefault(test_id, []).append((start, start + taken))
            if start + taken < end:
                queue.appendleft((test_id, start + taken, end))
            need -= taken


def _to_allocation(version: int, holdings: Holdings, known: Mapping[Span, KoiRange]) -> Allocation:
    assignments: dict[str, dict[str, tuple[KoiRange, ...]]] = {}
    for school_id in sorted(holdings):
        tests = {t: _as_ranges(spans, known) for t, spans in sorted(holdings[school_id].items()) if spans}
        if tests:
            assignments[school_id] = tests
    # Every range is a validated KoiRange and the shape is built just above; re-validating thousands
    # of ranges on every poll would cost more than the whole decision.
    return Allocation.model_construct(version=version, assignments=assignments)


def _as_ranges(spans: list[Span], known: Mapping[Span, KoiRange]) -> tuple[KoiRange, ...]:
    """Sort and merge adjacent spans: the canonical form lets equal allocations compare equal.

    Spans that were already ranges of the previous allocation reuse its frozen models.
    """
    return tuple(known.get(span) or KoiRange(start=span[0], end=span[1]) for span in merge_adjacent(spans))


def _load(tests: Mapping[str, list[Span]]) -> int:
    return sum(end - start for spans in tests.values() for start, end in spans)
