"""The one allocator: while it holds the lease, it turns running tests and live Schools into assignments.

Polls never allocate. One holder at a time (a DynamoDB lease whose token fences every write) runs a
pass every second or so. A pass reads the lease, the emergency stop and the pond's change counter
(:class:`~koipond.services.ports.changes.PondChanges`); that is all a quiet pass does, whatever the size of the pond. A
full pass (the counter moved, the stop flipped, a silent School may have died, a test's duration may
be over, or a while went by) also reads the running tests and the Schools' heartbeats, decides with
the pure :func:`allocate_koi` in blocks of :data:`KOI_BLOCK` koi, and writes only the Schools whose
assignment changed. A koi moving from School A to School B is first removed from A's item and only
then added to B's, so no stored state ever holds a koi twice; a holder dying between the two leaves
a gap that the next pass (by any holder) fills.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from koipond.clock import Clock
from koipond.errors import LostLeaseError, StoreError
from koipond.models.allocation import Allocation, KoiRange, count_koi
from koipond.models.assignments import KOI_BLOCK, AllocatorLease, SchoolAssignment
from koipond.models.history import EventKind
from koipond.models.schools import LoadTestAssignment, School
from koipond.models.tests import LoadTest, LoadTestStatus
from koipond.services.allocation import (
    KoiDemand,
    QuietWindow,
    RebalanceTolerance,
    SchoolView,
    allocate_koi,
    heard_until,
    silent_for,
)
from koipond.services.emergency_stop import REQUEST_BUDGET_SECONDS, stop_running_tests
from koipond.services.history import describe_reallocation, new_event, reallocation_details
from koipond.services.koi_ranges import Span, intersect
from koipond.services.loadtests import LoadTestService
from koipond.services.ports.assignments import AssignmentRepository
from koipond.services.ports.changes import PondChanges
from koipond.services.ports.estop import EmergencyStopRepository
from koipond.services.ports.history import HistoryRepository
from koipond.services.ports.loadtests import LoadTestRepository
from koipond.services.ports.schools import SchoolRepository

log = logging.getLogger("koipond.allocator")
# A School far above its fair share gives up whole blocks; one block of slack keeps a just-balanced
# allocation from being rebalanced again.
BLOCK_TOLERANCE = RebalanceTolerance(ratio=Fraction(1, 10), min_koi=1)
ACTOR = "allocator"
# A School counts as dead once strictly more than missed_polls intervals passed: wake just after that.
DEATH_MARGIN_SECONDS = 0.01
# After the counter moves, full passes go on this long: the indexes the pass reads (running tests,
# heartbeats) may lag the write that moved it, and a change read before it shows there must not wait.
INDEX_LAG_SECONDS = 2.0
# Writes of one phase in flight at once (boto3 clients are thread-safe). Measured on the local pond's
# embedded AWS at 200 Schools (bench_keeper.py): 16 at once starved the Schools' polls (2 polls past
# 5 s while the pond settled), 4 did not; on DynamoDB 4 already make a 50-School phase ~0.2 s.
WRITE_CONCURRENCY = 4


@dataclass(frozen=True)
class AllocatorTiming:
    """How often the allocator runs, how long its lease lasts, and when a School counts as dead."""

    period_seconds: float
    lease_seconds: float
    poll_interval_seconds: float
    missed_polls: int


@dataclass(frozen=True)
class PassReport:
    """What one pass did; ``held`` is False when another holder has the lease (nothing else was done)."""

    held: bool
    fence: int | None
    schools: int = 0
    tests: int = 0
    written: int = 0
    moved_koi: int = 0
    seconds: float = 0.0
    full: bool = False  # read the tests and heartbeats and decided (a quiet pass only renews and reads 3 items)
    next_due_in: float | None = None  # seconds until a full pass is due (a School's death, a test's end)


class AllocatorService:
    def __init__(
        self,
        assignments: AssignmentRepository,
        schools: SchoolRepository,
        tests: LoadTestRepository,
        lifecycle: LoadTestService,
        history: HistoryRepository,
        estop: EmergencyStopRepository,
        changes: PondChanges,
        clock: Clock,
        timing: AllocatorTiming,
        holder: str,
    ) -> None:
        self._assignments = assignments
        self._schools = schools
        self._tests = tests
        self._lifecycle = lifecycle
        self._history = history
        self._estop = estop
        self._changes = changes
        self._clock = clock
        self._timing = timing
        self._holder = holder
        self._lease: AllocatorLease | None = None
        # The holder's view of every School's assignment: loaded when the lease is taken, then kept
        # current by its own writes (nobody else may write while it holds the lease).
        self._state: dict[str, SchoolAssignment] = {}
        self._known: dict[str, LoadTest] = {}  # tests as last read consistently, to skip unchanged ones
        self._writes = 0  # assignment writes under the current lease: half of each write's stamp
        # What the last full pass started from, and when the next one is due regardless.
        self._seen: tuple[int, bool] | None = None  # (change counter, emergency stop active)
        self._pool = ThreadPoolExecutor(WRITE_CONCURRENCY, thread_name_prefix="allocator-write")
        self._changed_at = 0.0  # epoch seconds the counter was last seen to move
        # When no School could be heard (the Keeper or its table was down), silence is not death: the
        # last such window, and the start of one going on.
        self._quiet: QuietWindow | None = None
        self._quiet_since: float | None = None
        self._full_due_at = 0.0  # epoch seconds

    def run_pass(self) -> PassReport:
        """Take or renew the lease, then bring every School's assignment in line with the demand.

        Raises:
            StoreError: the table failed; the next pass starts again from a fresh read.
        """
        started = time.perf_counter()
        now = self._clock.now()
        try:
            lease = self._assignments.hold_lease(self._holder, now.timestamp(), self._timing.lease_seconds, self._lease)
        except StoreError:
            self._blind(now.timestamp())
            raise
        if lease is None:
            self._lease = None
            return PassReport(held=False, fence=None, seconds=time.perf_counter() - started)
        if self._lease is None or self._lease.fence != lease.fence:
            self._state = {a.school_id: a for a in self._assignments.list_all()}
            self._known = {}
            self._writes = 0
            self._seen = None
        self._lease = lease
        try:
            return self._allocate(lease, now, started)
        except StoreError:
            self._lease = None  # reload everything on the next pass, whoever holds the lease then
            self._blind(now.timestamp())
            raise
        except LostLeaseError:
            self._lease = None
            raise

    def _blind(self, now: float) -> None:
        """The table failed: no School could be heard either (polls write to it), so the pond counts as
        quiet from now until the first poll that gets through."""
        if self._quiet_since is None:
            self._quiet_since = now

    def run_for(self, seconds: float, stop: threading.Event | None = None) -> list[PassReport]:
        """Run a pass every ``period_seconds`` until ``seconds`` pass or ``stop`` is set; then let go.

        A failing pass is logged and the next one starts from fresh reads; the lease is released at
        the end so that the next runner (another process, the next scheduled invocation) takes over at once.
        """
        stop = stop or threading.Event()
        deadline = time.monotonic() + seconds
        reports: list[PassReport] = []
        while not stop.is_set() and time.monotonic() < deadline:
            began = time.monotonic()
            pause = self._timing.period_seconds
            try:
                report = self.run_pass()
                reports.append(report)
                if report.next_due_in is not None:
                    # Wake when a silent School turns dead, not up to a period later: its koi move at once.
                    pause = min(pause, report.next_due_in + DEATH_MARGIN_SECONDS)
            except (LostLeaseError, StoreError) as exc:
                log.warning("allocator pass failed, starting over: %s", exc)
            except Exception:  # a loop that must outlive any one bad pass
                log.exception("allocator pass failed unexpectedly, starting over")
                self._lease = None
            pause -= time.monotonic() - began
            stop.wait(max(0.0, min(pause, deadline - time.monotonic())))
        self.release()
        return reports

    def release(self) -> None:
        if self._lease is not None:
            self._assignments.release_lease(self._lease)
            self._lease = None

    def _allocate(self, lease: AllocatorLease, now: datetime, started: float) -> PassReport:
        # The counter first: a change that lands after this read moves it again, so the next pass sees it.
        changes = self._changes.read()
        estop = self._estop.get()
        seen = (changes, estop.active)
        # While the stop holds, the tests its request had no time to stop are stopped here, a slice a pass.
        stop_running_tests(self._lifecycle, estop, REQUEST_BUDGET_SECONDS)
        epoch = now.timestamp()
        if seen != self._seen:
            self._changed_at = epoch
        if seen == self._seen and epoch < self._full_due_at and epoch - self._changed_at >= INDEX_LAG_SECONDS:
            return PassReport(
                held=True,
                fence=lease.fence,
                seconds=time.perf_counter() - started,
                next_due_in=self._full_due_at - epoch,
            )
        tests = self._running_tests(now)
        heartbeats = self._schools.list_all()
        views = self._views(heartbeats, now)
        demands = [] if estop.active else [KoiDemand(t.id, _blocks_for(t.active_koi)) for t in tests.values()]
        previous = Allocation(assignments={sid: _block_map(a) for sid, a in self._state.items()})
        proposed = allocate_koi(previous, [d for d in demands if d.koi > 0], views, tolerance=BLOCK_TOLERANCE)
        target = {
            sid: tuple(_assignment(tests[tid], blocks) for tid, blocks in sorted(proposed.for_school(sid).items()))
            for sid in set(self._state) | set(proposed.assignments)
        }
        before = dict(self._state)
        written = self._write_changes(target, lease, now.timestamp())
        # Comparing before with after walks every School's holdings: only worth it when something was written.
        moved = _moved_koi(before, self._state) if written else 0
        if written:
            self._record_moves(before, tests)
        written += self._retire_dead(heartbeats, views, lease)
        self._seen = seen
        self._full_due_at = self._next_full_pass(heartbeats, views, tests.values(), epoch)
        return PassReport(
            held=True,
            fence=lease.fence,
            schools=sum(1 for v in views if v.live),
            tests=len(tests),
            written=written,
            moved_koi=moved,
            seconds=time.perf_counter() - started,
            full=True,
            next_due_in=self._full_due_at - epoch,
        )

    def _next_full_pass(
        self, heartbeats: list[School], views: list[SchoolView], tests: Iterable[LoadTest], now: float
    ) -> float:
        """When (epoch seconds) a full pass is due though the counter does not move: the moment the
        School silent the longest would count as dead, the end of the first test with a duration,
        and at the latest one death threshold from now (a net under a move that was lost)."""
        allowed = self._timing.missed_polls * self._timing.poll_interval_seconds
        live = {v.school_id for v in views if v.live}
        due = [now + allowed]
        if self._quiet_since is None:  # while the pond is quiet nobody's silence grows: no death is due
            silences = [silent_for(s.last_poll_at.timestamp(), now, self._quiet) for s in heartbeats if s.id in live]
            due += [now + allowed - silence for silence in silences]
        due += [end.timestamp() for end in (t.ends_at for t in tests) if end is not None]
        return max(now, min(due))

    def _running_tests(self, now: datetime) -> dict[str, LoadTest]:
        """The running tests; tests whose duration is over are completed.

        One Query of the status index lists them with their versions; only tests that are new, changed
        or gone from the index since the last pass are read again (strongly consistent, since the index
        lags), so a quiet pond costs one Query a pass, not a read per test.
        """
        listed = {t.id: t for t in self._tests.list_by_status(LoadTestStatus.RUNNING)}
        ids = set(listed) | {t.test_id for a in self._state.values() for t in a.tests}
        stale = sorted(
            i for i in ids if i not in listed or i not in self._known or self._known[i].version != listed[i].version
        )
        self._known = {i: t for i, t in self._known.items() if i in ids}
        self._known.update({t.id: t for t in self._tests.get_many(stale)})
        running = [t for t in self._known.values() if t.status is LoadTestStatus.RUNNING]
        if any(t.has_elapsed(now) for t in running):
            self._lifecycle.complete_elapsed(running)
            self._known.update({t.id: t for t in self._tests.get_many([t.id for t in running])})
            running = [t for t in self._known.values() if t.status is LoadTestStatus.RUNNING]
        return {t.id: t for t in running}

    def _views(self, heartbeats: list[School], now: datetime) -> list[SchoolView]:
        """Every School as the decision sees it; one whose heartbeat expired altogether is dead.

        A School is dead once it was silent for ``missed_polls`` intervals while the pond was heard
        (:func:`silent_for`): when no School polls at all, the Keeper or its table is down, and the
        Schools that come back after it must not be judged by the time it was down.
        """
        timing = self._timing
        epoch = now.timestamp()
        until = self._hear(heartbeats, epoch)
        allowed = timing.missed_polls * timing.poll_interval_seconds
        views = {
            s.id: SchoolView(
                s.id,
                s.capacity // KOI_BLOCK,
                silent_for(s.last_poll_at.timestamp(), until, self._quiet) <= allowed,
            )
            for s in heartbeats
        }
        for school_id in self._state:
            views.setdefault(school_id, SchoolView(school_id, 0, live=False))
        return list(views.values())

    def _hear(self, heartbeats: list[School], now: float) -> float:
        """Until when the pond was heard (see :func:`heard_until`); notes when it went quiet and came back."""
        polls = [s.last_poll_at.timestamp() for s in heartbeats]
        newest = max(polls, default=None)
        until = heard_until(newest, now, self._timing.poll_interval_seconds)
        if until < now:
            if self._quiet_since is None:
                self._quiet_since = newest
        elif self._quiet_since is not None:
            since = self._quiet_since
            back = min((t for t in polls if t > since), default=now)
            self._quiet = QuietWindow(since, back)
            self._quiet_since = None
            log.warning("no School was heard from %.1f to %.1f: that silence does not count against them", since, back)
        return until

    def _write_changes(
        self, target: Mapping[str, tuple[LoadTestAssignment, ...]], lease: AllocatorLease, now: float
    ) -> int:
        """Shrink every School that gives koi up first, then grow the ones that receive them."""
        changed = sorted(sid for sid, tests in target.items() if tests != self._current(sid).tests)
        shrinks = []
        for school_id in changed:
            current = self._current(school_id)
            kept = _kept(current.tests, target[school_id])
            if kept != current.tests:
                shrinks.append(current.model_copy(update={"tests": kept}))
        self._write_all(shrinks, lease, now)
        grows = [
            self._current(sid).model_copy(update={"tests": target[sid]})
            for sid in changed
            if target[sid] != self._current(sid).tests
        ]
        self._write_all(grows, lease, now)
        return len(shrinks) + len(grows)

    def _write_all(self, assignments: list[SchoolAssignment], lease: AllocatorLease, now: float) -> None:
        """One phase's writes (all shrinks, or all grows) at once; the caller's next phase starts only
        once every one of them went through.

        Within a phase any subset of the writes leaves the stored state disjoint, so their order does
        not matter; a new test or a School that joins touches many Schools, and one write after the
        other would take seconds at 1,000 Schools.

        Raises:
            LostLeaseError: the first such failure, once every write of the phase has ended.
            StoreError: the same.
        """
        stamped = []
        for assignment in assignments:
            self._writes += 1
            stamped.append((assignment, lease.stamp(self._writes)))
        futures = [self._pool.submit(self._assignments.write, a, lease, stamp, now) for a, stamp in stamped]
        failure: Exception | None = None
        for future in futures:
            try:
                stored = future.result()
            except (LostLeaseError, StoreError) as exc:
                failure = failure or exc
            else:
                self._state[stored.school_id] = stored
        if failure is not None:
            raise failure

    def _retire_dead(self, heartbeats: list[School], views: list[SchoolView], lease: AllocatorLease) -> int:
        """Dead Schools that hold nothing leave the heartbeat index and lose their assignment item,
        so neither the allocator's Query nor its state grows with Schools that came and went."""
        removed = 0
        dead = {v.school_id for v in views if not v.live}
        for school_id in sorted(dead & set(self._state)):
            if not self._state[school_id].tests:
                self._assignments.remove(self._state.pop(school_id), lease)
                removed += 1
        for school in heartbeats:
            if school.id in dead and school.id not in self._state:
                self._schools.retire(school)
        return removed

    def _current(self, school_id: str) -> SchoolAssignment:
        return self._state.get(school_id) or SchoolAssignment(school_id=school_id)

    def _record_moves(self, before: Mapping[str, SchoolAssignment], tests: Mapping[str, LoadTest]) -> None:
        """One compact history event per running test whose set of Schools changed (written together)."""
        was_by_test, now_by_test = _koi_by_test(before), _koi_by_test(self._state)
        events = []
        for test_id in sorted(tests):
            was, now = was_by_test.get(test_id, {}), now_by_test.get(test_id, {})
            if set(was) != set(now):
                details = reallocation_details(was, now)
                events.append(
                    new_event(
                        self._clock, test_id, EventKind.TEST_REALLOCATED, ACTOR, describe_reallocation(details), details
                    )
                )
        for future in [self._pool.submit(self._history.append, event) for event in events]:
            future.result()


def _blocks_for(koi: int) -> int:
    return -(-koi // KOI_BLOCK)


def _block_map(assignment: SchoolAssignment) -> dict[str, tuple[KoiRange, ...]]:
    """A School's koi ranges as ranges of block numbers (every range starts on a block boundary)."""
    return {
        t.test_id: tuple(KoiRange(start=r.start // KOI_BLOCK, end=_blocks_for(r.end)) for r in t.ranges)
        for t in assignment.tests
    }


def _assignment(test: LoadTest, blocks: tuple[KoiRange, ...]) -> LoadTestAssignment:
    """What a School runs of ``test``: its blocks as koi ranges, the last one cut at the test's demand."""
    limit = test.active_koi
    ranges = tuple(
        KoiRange(start=b.start * KOI_BLOCK, end=min(b.end * KOI_BLOCK, limit))
        for b in blocks
        if b.start * KOI_BLOCK < limit
    )
    return LoadTestAssignment(test_id=test.id, ranges=ranges, koi=count_koi(ranges))


def _kept(
    current: tuple[LoadTestAssignment, ...], target: tuple[LoadTestAssignment, ...]
) -> tuple[LoadTestAssignment, ...]:
    """What a School keeps of ``current`` on its way to ``target``: only koi it holds in both."""
    wanted = {t.test_id: t for t in target}
    kept = []
    for held in current:
        goal = wanted.get(held.test_id)
        if goal is None:
            continue
        spans = intersect(_spans(held.ranges), _spans(goal.ranges))
        if spans:
            ranges = tuple(KoiRange(start=s, end=e) for s, e in spans)
            kept.append(goal.model_copy(update={"ranges": ranges, "koi": count_koi(ranges)}))
    return tuple(kept)


def _spans(ranges: tuple[KoiRange, ...]) -> list[Span]:
    return [(r.start, r.end) for r in ranges]


def _koi_by_test(state: Mapping[str, SchoolAssignment]) -> dict[str, dict[str, int]]:
    """koi per School of every test, in one walk over the Schools' holdings."""
    by_test: dict[str, dict[str, int]] = {}
    for school_id, assignment in state.items():
        for test in assignment.tests:
            if test.koi:
                by_test.setdefault(test.test_id, {})[school_id] = test.koi
    return by_test


def _moved_koi(before: Mapping[str, SchoolAssignment], after: Mapping[str, SchoolAssignment]) -> int:
    """koi that a School now holds and did not hold before (new ones and moved ones alike)."""
    gained = 0
    for school_id, assignment in after.items():
        was = before[school_id].ranges() if school_id in before else {}
        for test_id, ranges in assignment.ranges().items():
            held = _spans(was.get(test_id, ()))
            gained += count_koi(ranges) - sum(e - s for s, e in intersect(held, _spans(ranges)))
    return gained
