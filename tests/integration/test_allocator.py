"""The allocator on the embedded DynamoDB: one lease holder, fenced writes, shrink before grow, and the
pond's changes (scale, shed, stop, School deaths, the emergency stop) reaching the Schools' items."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper
from koipond.errors import LostLeaseError
from koipond.models.assignments import KOI_BLOCK, SchoolAssignment
from koipond.models.tests import BehaviorRef
from koipond.services.loadtests import LoadTestChange, NewLoadTest
from koipond.settings import Settings
from koipond.store.assignments import DynamoAssignmentRepository
from koipond.store.schools import DynamoSchoolRepository
from koipond.store.table import DynamoTable, StoreError
from tests.conftest import MINIMAL_BEHAVIOR
from tests.integration.dynamodb_faults import FailingDynamoDB


@pytest.fixture
def faulty(dynamodb: Any) -> list[FailingDynamoDB]:
    return [FailingDynamoDB(dynamodb) for _ in range(2)]


@pytest.fixture
def keepers(settings: Settings, faulty: list[FailingDynamoDB], clock: FixedClock) -> tuple[Keeper, Keeper]:
    first, second = (build_keeper(settings, client, clock) for client in faulty)  # type: ignore[arg-type]
    first.behaviors.put("average_user", MINIMAL_BEHAVIOR, "tests")
    return first, second


@pytest.fixture
def stored(settings: Settings, dynamodb: Any) -> DynamoAssignmentRepository:
    return DynamoAssignmentRepository(DynamoTable(dynamodb, settings.table_name))


def start(keeper: Keeper, koi: int) -> str:
    spec = NewLoadTest("t", "http://127.0.0.1:1", BehaviorRef(name="average_user"), "w", koi)
    return keeper.tests.create(spec, "tests").id


def koi_by_school(stored: DynamoAssignmentRepository, test_id: str) -> dict[str, int]:
    return {a.school_id: a.koi_of(test_id) for a in stored.list_all() if a.koi_of(test_id)}


def split_then_kill_s2(keeper: Keeper, clock: FixedClock, stored: DynamoAssignmentRepository) -> str:
    """A 1,000-koi test split over s1 and s2; then s2 misses three 5 s polls while s1 keeps polling."""
    test_id = start(keeper, 1000)
    for school in ("s2", "s1"):
        keeper.polls.record_heartbeat(school, 5000, {})
    keeper.allocator.run_pass()
    assert koi_by_school(stored, test_id) == {"s1": 500, "s2": 500}
    clock.advance(16)
    keeper.polls.record_heartbeat("s1", 5000, {})
    return test_id


def assert_no_koi_twice(assignments: list[SchoolAssignment]) -> None:
    held: dict[str, list[tuple[int, int]]] = {}
    for assignment in assignments:
        for test in assignment.tests:
            held.setdefault(test.test_id, []).extend((r.start, r.end) for r in test.ranges)
    for test_id, spans in held.items():
        spans.sort()
        assert all(a <= b for (_, a), (b, _) in itertools.pairwise(spans)), f"{test_id} held twice: {spans}"


def test_only_one_of_two_allocators_holds_the_lease_and_allocates(keepers: tuple[Keeper, Keeper]) -> None:
    a, b = keepers
    test_id = start(a, 1000)
    a.polls.record_heartbeat("s1", 5000, {})
    first, second = a.allocator.run_pass(), b.allocator.run_pass()
    assert (first.held, second.held) == (True, False)
    assert second.written == 0
    assert a.polls.poll("s1", 5000, {}).assignments[0].test_id == test_id


def test_a_holder_whose_lease_was_taken_over_cannot_write(
    keepers: tuple[Keeper, Keeper], clock: FixedClock, stored: DynamoAssignmentRepository, settings: Settings
) -> None:
    a, b = keepers
    start(a, 1000)
    a.polls.record_heartbeat("s1", 5000, {})
    assert a.allocator.run_pass().held
    stale = stored.lease()
    assert stale is not None
    clock.advance(settings.allocator_lease_seconds + 1)  # a's process paused past its lease
    a.polls.record_heartbeat("s1", 5000, {})
    taken = b.allocator.run_pass()
    assert taken.held
    assert taken.fence == stale.fence + 1
    with pytest.raises(LostLeaseError):
        stored.write(SchoolAssignment(school_id="s1", version=stored.get("s1").version), stale, stale.stamp(99), 0.0)
    assert not a.allocator.run_pass().held


def test_koi_leaving_a_dead_school_are_removed_before_they_are_added_elsewhere(
    keepers: tuple[Keeper, Keeper], faulty: list[FailingDynamoDB], clock: FixedClock, stored: DynamoAssignmentRepository
) -> None:
    a, _ = keepers
    test_id = split_then_kill_s2(a, clock, stored)
    faulty[0].after_write = lambda: assert_no_koi_twice(stored.list_all())
    a.allocator.run_pass()
    assert koi_by_school(stored, test_id) == {"s1": 1000}


def test_a_pass_cut_after_its_first_write_is_finished_by_the_next_holder(
    keepers: tuple[Keeper, Keeper], faulty: list[FailingDynamoDB], clock: FixedClock, stored: DynamoAssignmentRepository
) -> None:
    a, b = keepers
    test_id = split_then_kill_s2(a, clock, stored)
    faulty[0].writes_left = 1  # a's process dies after removing s2's koi, before giving them to s1
    with pytest.raises(Exception, match="injected failure"):
        a.allocator.run_pass()
    assert koi_by_school(stored, test_id) == {"s1": 500}
    clock.advance(6)  # a's lease runs out
    a.polls.record_heartbeat("s1", 5000, {})
    assert b.allocator.run_pass().held
    assert koi_by_school(stored, test_id) == {"s1": 1000}


def test_scale_shed_and_stop_reach_the_schools_on_the_next_pass(
    keepers: tuple[Keeper, Keeper], stored: DynamoAssignmentRepository
) -> None:
    a, _ = keepers
    test_id = start(a, 1000)
    for school in ("s1", "s2"):
        a.polls.record_heartbeat(school, 5000, {})
    a.allocator.run_pass()
    a.tests.change(test_id, LoadTestChange(koi=450), "tests", None)
    a.allocator.run_pass()
    assert sum(koi_by_school(stored, test_id).values()) == 450
    ranges = sorted((r.start, r.end) for s in stored.list_all() for t in s.tests for r in t.ranges)
    assert ranges[-1][1] == 450
    assert all(start % KOI_BLOCK == 0 for start, _ in ranges)
    a.tests.change(test_id, LoadTestChange(shed_percent=50), "tests", None)
    a.allocator.run_pass()
    assert sum(koi_by_school(stored, test_id).values()) == 225
    a.tests.stop(test_id, "tests", None)
    a.allocator.run_pass()
    assert koi_by_school(stored, test_id) == {}
    events = [e.kind for e in a.tests.events(test_id)]
    assert "test_reallocated" in events


def test_the_emergency_stop_empties_every_assignment_and_polls_answer_stop_all(
    keepers: tuple[Keeper, Keeper], stored: DynamoAssignmentRepository
) -> None:
    a, b = keepers
    start(a, 1000)
    a.polls.record_heartbeat("s1", 5000, {})
    a.allocator.run_pass()
    b.estop.activate("tests", "drill")
    answer = b.polls.poll("s1", 5000, {})
    assert (answer.stop_all, answer.assignments) == (True, ())  # before the allocator even ran
    a.allocator.run_pass()
    assert all(not s.tests for s in stored.list_all())


def test_a_second_pass_with_nothing_changed_writes_nothing(keepers: tuple[Keeper, Keeper]) -> None:
    a, _ = keepers
    for koi in (1000, 250, 3):
        start(a, koi)
    for school in ("s1", "s2", "s3"):
        a.polls.record_heartbeat(school, 700, {})
    assert a.allocator.run_pass().written > 0
    assert a.allocator.run_pass().written == 0


def test_a_dead_school_leaves_the_allocators_index_and_comes_back_when_it_polls(
    keepers: tuple[Keeper, Keeper],
    clock: FixedClock,
    stored: DynamoAssignmentRepository,
    dynamodb: Any,
    settings: Settings,
) -> None:
    a, _ = keepers
    test_id = split_then_kill_s2(a, clock, stored)
    a.allocator.run_pass()  # s2's koi move to s1, and s2 is retired
    assert [s.id for s in DynamoSchoolRepository(DynamoTable(dynamodb, settings.table_name)).list_all()] == ["s1"]
    assert [a.school_id for a in stored.list_all()] == ["s1"]
    listed = {school.id: live for school, live in a.polls.list_schools()}
    assert listed == {"s1": True, "s2": False}
    a.polls.record_heartbeat("s2", 5000, {})
    a.allocator.run_pass()
    assert sorted(koi_by_school(stored, test_id)) == ["s1", "s2"]


def test_a_pass_says_when_the_next_silent_school_turns_dead(
    keepers: tuple[Keeper, Keeper], clock: FixedClock, settings: Settings
) -> None:
    """The loop wakes then, so a dead School's koi move at its death, not up to a period later."""
    a, _ = keepers
    start(a, 1000)
    t0 = clock.now()
    a.polls.record_heartbeat("s1", 5000, {})
    clock.advance(4)
    a.polls.record_heartbeat("s2", 5000, {})
    clock.advance(2)
    allowed = settings.missed_polls * settings.poll_interval_seconds
    assert a.allocator.run_pass().next_due_in == pytest.approx(allowed - 6)  # s1, silent for 6 s
    polled = 4.0
    while polled + 5 < allowed:  # s2 polls on, every 5 s: the pond is heard, so s1's silence counts
        clock.advance(polled + 5 - (clock.now() - t0).total_seconds())
        a.polls.record_heartbeat("s2", 5000, {})
        polled += 5
    clock.advance(allowed + 0.01 - (clock.now() - t0).total_seconds())
    report = a.allocator.run_pass()
    assert (report.schools, report.moved_koi) == (1, 500)  # s1 died, its koi went to s2 in that pass
    assert report.next_due_in == pytest.approx(polled + allowed - (allowed + 0.01))  # s2 is next


def test_a_quiet_pass_reads_three_items_whatever_the_pond(
    keepers: tuple[Keeper, Keeper], faulty: list[FailingDynamoDB], clock: FixedClock
) -> None:
    a, _ = keepers
    start(a, 1000)
    for school in ("s1", "s2", "s3"):
        a.polls.record_heartbeat(school, 5000, {})
    assert a.allocator.run_pass().full
    clock.advance(2)  # past the index-lag window after the last change
    for school in ("s1", "s2", "s3"):
        a.polls.record_heartbeat(school, 5000, {})  # steady polls are no news
    faulty[0].calls.clear()
    report = a.allocator.run_pass()
    assert not report.full
    assert faulty[0].calls == ["update_item", "get_item", "get_item"]  # lease, change counter, emergency stop


@pytest.mark.parametrize(
    "news",
    ["a test scaled", "a new School", "a School's new capacity", "a School back from the dead", "a test stopped"],
)
def test_every_change_the_allocation_depends_on_makes_the_next_pass_full(
    keepers: tuple[Keeper, Keeper], clock: FixedClock, settings: Settings, news: str
) -> None:
    a, _ = keepers
    test_id = start(a, 1000)
    a.polls.record_heartbeat("s1", 5000, {})
    a.polls.record_heartbeat("s2", 5000, {})
    a.allocator.run_pass()
    clock.advance(2)
    a.polls.record_heartbeat("s1", 5000, {})
    a.polls.record_heartbeat("s2", 5000, {})
    assert not a.allocator.run_pass().full
    if news == "a test scaled":
        a.tests.change(test_id, LoadTestChange(koi=400), "tests", None)
    elif news == "a new School":
        a.polls.record_heartbeat("s3", 5000, {})
    elif news == "a School's new capacity":
        a.polls.record_heartbeat("s1", 300, {})
    elif news == "a School back from the dead":
        for _ in range(4):  # s1 polls on, s2 falls silent for 16 s
            clock.advance(settings.poll_interval_seconds - 1)
            a.polls.record_heartbeat("s1", 5000, {})
        assert a.allocator.run_pass().full  # s2's death was due: its koi went to s1
        clock.advance(2)
        a.polls.record_heartbeat("s1", 5000, {})
        assert not a.allocator.run_pass().full
        a.polls.record_heartbeat("s2", 5000, {})
    else:
        a.tests.stop(test_id, "tests", "done")
    report = a.allocator.run_pass()
    assert report.full
    assert report.written > 0  # and it acted on the news


def test_full_passes_go_on_while_the_indexes_may_lag_a_change(
    keepers: tuple[Keeper, Keeper], clock: FixedClock
) -> None:
    a, _ = keepers
    a.polls.record_heartbeat("s1", 5000, {})
    a.allocator.run_pass()
    clock.advance(3)
    start(a, 500)
    fulls = []
    for _ in range(4):
        fulls.append(a.allocator.run_pass().full)
        clock.advance(0.75)
    assert fulls == [True, True, True, False]  # 0, 0.75 and 1.5 s after the change; quiet from 2.25 s


def _poll_both_every_interval(keeper: Keeper, clock: FixedClock, seconds: float) -> None:
    for _ in range(int(seconds // 5)):
        clock.advance(5)
        for school in ("s1", "s2"):
            keeper.polls.record_heartbeat(school, 5000, {})
        keeper.allocator.run_pass()


@pytest.mark.parametrize("outage", ["the Keeper is down", "the table is down"])
def test_schools_are_not_judged_by_the_time_nobody_could_be_heard(
    keepers: tuple[Keeper, Keeper],
    faulty: list[FailingDynamoDB],
    clock: FixedClock,
    stored: DynamoAssignmentRepository,
    outage: str,
) -> None:
    """For 40 s no School can poll (the Keeper, or its table, is down) while the allocator keeps trying.
    Afterwards s1 polls first and s2 a few seconds later, as Schools do: neither is dead and no koi move.
    A School that stays silent once the pond is heard again dies one death threshold later."""
    a, _ = keepers
    test_id = start(a, 1000)
    _poll_both_every_interval(a, clock, 10)
    assert koi_by_school(stored, test_id) == {"s1": 500, "s2": 500}
    for _ in range(40):
        clock.advance(1)
        if outage == "the table is down":
            faulty[0].failing = {"update_item", "get_item", "query", "transact_write_items", "batch_get_item"}
            with pytest.raises(StoreError):
                a.allocator.run_pass()
        else:
            a.allocator.run_pass()
            assert koi_by_school(stored, test_id) == {"s1": 500, "s2": 500}
    faulty[0].failing = set()
    a.polls.record_heartbeat("s1", 5000, {})
    a.allocator.run_pass()
    assert koi_by_school(stored, test_id) == {"s1": 500, "s2": 500}
    clock.advance(3)
    a.polls.record_heartbeat("s2", 5000, {})
    a.allocator.run_pass()
    assert koi_by_school(stored, test_id) == {"s1": 500, "s2": 500}
    for step in (5, 5, 4):  # s1 polls on; s2 falls silent for good
        clock.advance(step)
        a.polls.record_heartbeat("s1", 5000, {})
        a.allocator.run_pass()
    assert koi_by_school(stored, test_id) == {"s1": 500, "s2": 500}  # 14 s of silence: not dead yet
    clock.advance(2)
    a.polls.record_heartbeat("s1", 5000, {})
    a.allocator.run_pass()
    assert koi_by_school(stored, test_id) == {"s1": 1000}
