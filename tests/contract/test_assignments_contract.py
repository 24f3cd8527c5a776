"""The assignment repository's contract, over DynamoDB and in memory: fenced, versioned writes and the lease."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from koipond.errors import LostLeaseError
from koipond.memory.assignments import MemoryAssignmentRepository
from koipond.memory.schools import MemorySchoolRepository
from koipond.memory.writes import MemoryUnitOfWork
from koipond.models.allocation import KoiRange
from koipond.models.assignments import AllocatorLease, SchoolAssignment
from koipond.models.schools import LoadTestAssignment
from koipond.services.ports.assignments import AssignmentRepository
from koipond.services.ports.schools import SchoolRepository
from koipond.store.assignments import DynamoAssignmentRepository
from koipond.store.schools import DynamoSchoolRepository
from tests.conftest import START
from tests.contract.fixtures_repositories import FLAVOURS, dynamo_table

NOW = START.timestamp()
LEASE_SECONDS = 10.0


@dataclass
class Stores:
    assignments: AssignmentRepository
    schools: SchoolRepository


@pytest.fixture(params=FLAVOURS)
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "memory":
        writes = MemoryUnitOfWork()
        schools = MemorySchoolRepository(writes)
        return Stores(MemoryAssignmentRepository(writes, schools), schools)
    table = dynamo_table(request)
    return Stores(DynamoAssignmentRepository(table), DynamoSchoolRepository(table))


def holding(test_id: str, start: int, end: int) -> tuple[LoadTestAssignment, ...]:
    return (LoadTestAssignment(test_id=test_id, ranges=(KoiRange(start=start, end=end),), koi=end - start),)


def take(stores: Stores, holder: str = "a", now: float = NOW) -> AllocatorLease:
    lease = stores.assignments.hold_lease(holder, now, LEASE_SECONDS, None)
    assert lease is not None
    return lease


def test_a_school_never_written_has_an_empty_assignment(stores: Stores) -> None:
    assert stores.assignments.get("s1") == SchoolAssignment(school_id="s1")
    assert stores.assignments.list_all() == []


def test_the_first_taker_gets_fence_1_and_the_lease_reads_back(stores: Stores) -> None:
    lease = take(stores)
    assert (lease.holder, lease.fence, lease.expires_at) == ("a", 1, NOW + LEASE_SECONDS)
    assert stores.assignments.lease() == lease


def test_another_holder_cannot_take_a_live_lease(stores: Stores) -> None:
    take(stores, "a")
    assert stores.assignments.hold_lease("b", NOW + 1, LEASE_SECONDS, None) is None


def test_renewing_keeps_the_fence_and_moves_the_expiry(stores: Stores) -> None:
    lease = take(stores)
    renewed = stores.assignments.hold_lease("a", NOW + 5, LEASE_SECONDS, lease)
    assert renewed is not None
    assert (renewed.fence, renewed.expires_at) == (1, NOW + 5 + LEASE_SECONDS)


def test_an_expired_lease_is_taken_with_the_next_fence_and_cannot_be_renewed(stores: Stores) -> None:
    stale = take(stores, "a")
    taken = stores.assignments.hold_lease("b", NOW + LEASE_SECONDS + 1, LEASE_SECONDS, None)
    assert taken is not None
    assert (taken.holder, taken.fence) == ("b", 2)
    assert stores.assignments.hold_lease("a", NOW + LEASE_SECONDS + 2, LEASE_SECONDS, stale) is None


def test_a_holder_taking_its_own_lease_again_gets_a_new_fence(stores: Stores) -> None:
    take(stores, "a")
    again = take(stores, "a", NOW + 1)
    assert again.fence == 2


def test_a_released_lease_is_free_for_the_next_holder_at_once(stores: Stores) -> None:
    lease = take(stores, "a")
    stores.assignments.release_lease(lease)
    taken = stores.assignments.hold_lease("b", NOW + 1, LEASE_SECONDS, None)
    assert taken is not None
    assert taken.fence == 2


def test_releasing_a_lease_taken_over_leaves_the_new_holder_alone(stores: Stores) -> None:
    stale = take(stores, "a")
    taken = stores.assignments.hold_lease("b", NOW + LEASE_SECONDS + 1, LEASE_SECONDS, None)
    stores.assignments.release_lease(stale)
    assert stores.assignments.lease() == taken


def test_a_write_stores_the_assignment_under_its_stamp(stores: Stores) -> None:
    lease = take(stores)
    wanted = SchoolAssignment(school_id="s1", tests=holding("t1", 0, 100))
    stored = stores.assignments.write(wanted, lease, lease.stamp(1), NOW)
    assert stored == wanted.model_copy(update={"version": lease.stamp(1)})
    assert stores.assignments.get("s1") == stored
    assert stores.assignments.list_all() == [stored]


def test_a_write_tells_the_schools_heartbeat_its_stamp_and_koi(stores: Stores) -> None:
    lease = take(stores)
    stores.schools.heartbeat("s1", 500, {}, START)
    stores.assignments.write(SchoolAssignment(school_id="s1", tests=holding("t1", 0, 100)), lease, lease.stamp(1), NOW)
    school = stores.schools.get("s1")
    assert school is not None
    assert (school.assignment_version, school.assigned_koi) == (lease.stamp(1), 100)


def test_a_write_before_the_schools_first_poll_shows_no_school_until_it_polls(stores: Stores) -> None:
    lease = take(stores)
    stores.assignments.write(SchoolAssignment(school_id="s1", tests=holding("t1", 0, 100)), lease, lease.stamp(1), NOW)
    assert stores.schools.get("s1") is None
    assert stores.schools.list_all() == []
    stores.schools.heartbeat("s1", 500, {}, START)
    school = stores.schools.get("s1")
    assert school is not None
    assert school.assignment_version == lease.stamp(1)


def test_a_holder_whose_lease_was_taken_cannot_write(stores: Stores) -> None:
    stale = take(stores, "a")
    stores.assignments.hold_lease("b", NOW + LEASE_SECONDS + 1, LEASE_SECONDS, None)
    with pytest.raises(LostLeaseError):
        stores.assignments.write(SchoolAssignment(school_id="s1"), stale, stale.stamp(1), NOW)
    assert stores.assignments.list_all() == []


def test_nobody_writes_without_ever_taking_the_lease(stores: Stores) -> None:
    never = AllocatorLease(holder="a", fence=1, expires_at=NOW + LEASE_SECONDS)
    with pytest.raises(LostLeaseError):
        stores.assignments.write(SchoolAssignment(school_id="s1"), never, never.stamp(1), NOW)


def test_a_write_from_a_stale_version_fails_and_changes_nothing(stores: Stores) -> None:
    lease = take(stores)
    first = stores.assignments.write(
        SchoolAssignment(school_id="s1", tests=holding("t1", 0, 100)), lease, lease.stamp(1), NOW
    )
    with pytest.raises(LostLeaseError):  # version 0 claims the item does not exist
        stores.assignments.write(SchoolAssignment(school_id="s1"), lease, lease.stamp(2), NOW)
    with pytest.raises(LostLeaseError):
        stores.assignments.write(SchoolAssignment(school_id="s1", version=12345), lease, lease.stamp(3), NOW)
    assert stores.assignments.get("s1") == first


def test_writes_chain_on_the_version_each_one_returns(stores: Stores) -> None:
    lease = take(stores)
    first = stores.assignments.write(
        SchoolAssignment(school_id="s1", tests=holding("t1", 0, 100)), lease, lease.stamp(1), NOW
    )
    second = stores.assignments.write(first.model_copy(update={"tests": ()}), lease, lease.stamp(2), NOW)
    assert stores.assignments.get("s1") == second
    assert second.version == lease.stamp(2)


def test_remove_deletes_the_assignment_at_its_version(stores: Stores) -> None:
    lease = take(stores)
    stored = stores.assignments.write(SchoolAssignment(school_id="s1"), lease, lease.stamp(1), NOW)
    stores.assignments.remove(stored, lease)
    assert stores.assignments.list_all() == []


def test_remove_refuses_a_stale_version_a_missing_item_and_a_lost_lease(stores: Stores) -> None:
    lease = take(stores)
    stored = stores.assignments.write(SchoolAssignment(school_id="s1"), lease, lease.stamp(1), NOW)
    with pytest.raises(LostLeaseError):
        stores.assignments.remove(stored.model_copy(update={"version": 7}), lease)
    with pytest.raises(LostLeaseError):
        stores.assignments.remove(SchoolAssignment(school_id="s2", version=1), lease)
    taken = stores.assignments.hold_lease("b", NOW + LEASE_SECONDS + 1, LEASE_SECONDS, None)
    assert taken is not None
    with pytest.raises(LostLeaseError):
        stores.assignments.remove(stored, lease)
    assert stores.assignments.list_all() == [stored]


def test_list_all_is_in_school_id_order(stores: Stores) -> None:
    lease = take(stores)
    for n, school_id in enumerate(["s3", "s1", "s2"], start=1):
        stores.assignments.write(SchoolAssignment(school_id=school_id), lease, lease.stamp(n), NOW)
    assert [a.school_id for a in stores.assignments.list_all()] == ["s1", "s2", "s3"]
