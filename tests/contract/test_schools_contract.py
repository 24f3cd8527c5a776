"""The School repository's contract, over DynamoDB and in memory: heartbeats, koi per test, listing and retiring."""

from __future__ import annotations

from datetime import timedelta

import pytest

from koipond.memory.schools import MemorySchoolRepository
from koipond.memory.writes import MemoryUnitOfWork
from koipond.services.ports.schools import SchoolRepository
from koipond.store.schools import DynamoSchoolRepository
from tests.conftest import START
from tests.contract.fixtures_repositories import FLAVOURS, dynamo_table

LATER = START + timedelta(seconds=5)


@pytest.fixture(params=FLAVOURS)
def schools(request: pytest.FixtureRequest) -> SchoolRepository:
    if request.param == "memory":
        return MemorySchoolRepository(MemoryUnitOfWork())
    return DynamoSchoolRepository(dynamo_table(request))


def test_a_first_heartbeat_finds_no_school_and_reports_its_koi_per_test_as_new(schools: SchoolRepository) -> None:
    previous = schools.heartbeat("s1", 500, {}, START)
    assert previous.school is None
    assert previous.running_changed


def test_a_heartbeat_is_read_back_as_the_school_with_totals(schools: SchoolRepository) -> None:
    schools.heartbeat("s1", 500, {"t1": 30, "t2": 0, "t3": 12}, START)
    school = schools.get("s1")
    assert school is not None
    assert (school.id, school.capacity, school.running_koi, school.running_tests) == ("s1", 500, 42, 2)
    assert (school.last_poll_at, school.first_seen_at) == (START, START)
    assert (school.assigned_koi, school.assignment_version, school.running) == (0, None, {})


def test_the_next_heartbeat_returns_the_school_as_it_was(schools: SchoolRepository) -> None:
    schools.heartbeat("s1", 500, {}, START)
    previous = schools.heartbeat("s1", 600, {}, LATER)
    assert previous.school is not None
    assert (previous.school.capacity, previous.school.last_poll_at) == (500, START)
    school = schools.get("s1")
    assert school is not None
    assert (school.capacity, school.last_poll_at, school.first_seen_at) == (600, LATER, START)


def test_running_changed_only_when_the_koi_per_test_differ(schools: SchoolRepository) -> None:
    schools.heartbeat("s1", 500, {"t1": 3}, START)
    assert not schools.heartbeat("s1", 500, {"t1": 3}, LATER).running_changed
    assert schools.heartbeat("s1", 500, {"t1": 4}, LATER).running_changed
    assert schools.heartbeat("s1", 500, {"t1": 4, "t2": 0}, LATER).running_changed


def test_forgetting_the_digest_makes_the_next_heartbeat_report_a_change(schools: SchoolRepository) -> None:
    schools.heartbeat("s1", 500, {"t1": 3}, START)
    schools.forget_running_digest("s1")
    assert schools.heartbeat("s1", 500, {"t1": 3}, LATER).running_changed


def test_saved_koi_per_test_are_listed_by_school(schools: SchoolRepository) -> None:
    schools.save_running("s2", {"t1": 5}, START)
    schools.save_running("s1", {"t1": 1, "t2": 2}, START)
    schools.save_running("s1", {"t2": 3}, LATER)  # last writer wins
    assert schools.running_by_school() == {"s1": {"t2": 3}, "s2": {"t1": 5}}
    assert list(schools.running_by_school()) == ["s1", "s2"]


def test_an_unknown_school_is_none(schools: SchoolRepository) -> None:
    assert schools.get("nobody") is None
    assert schools.list_all() == []
    assert schools.running_by_school() == {}


def test_list_all_holds_every_polling_school_in_id_order(schools: SchoolRepository) -> None:
    for school_id in ("s3", "s1", "s2"):
        schools.heartbeat(school_id, 100, {}, START)
    assert [s.id for s in schools.list_all()] == ["s1", "s2", "s3"]
    assert schools.list_retired() == []


def test_a_retired_school_leaves_the_allocators_list_for_the_retired_one(schools: SchoolRepository) -> None:
    schools.heartbeat("s1", 100, {}, START)
    schools.heartbeat("s2", 100, {}, START)
    dead = schools.get("s1")
    assert dead is not None
    assert schools.retire(dead)
    assert [s.id for s in schools.list_all()] == ["s2"]
    assert [s.id for s in schools.list_retired()] == ["s1"]
    assert schools.get("s1") == dead


def test_a_school_that_polled_since_it_was_judged_dead_is_not_retired(schools: SchoolRepository) -> None:
    schools.heartbeat("s1", 100, {}, START)
    judged = schools.get("s1")
    assert judged is not None
    schools.heartbeat("s1", 100, {}, LATER)
    assert not schools.retire(judged)
    assert [s.id for s in schools.list_all()] == ["s1"]


def test_retiring_a_school_never_heard_of_fails(schools: SchoolRepository) -> None:
    schools.heartbeat("s1", 100, {}, START)
    ghost = schools.get("s1")
    assert ghost is not None
    assert not schools.retire(ghost.model_copy(update={"id": "s9"}))
    assert schools.list_retired() == []


def test_a_retired_school_that_polls_again_is_listed_for_the_allocator_again(schools: SchoolRepository) -> None:
    schools.heartbeat("s1", 100, {}, START)
    dead = schools.get("s1")
    assert dead is not None
    assert schools.retire(dead)
    previous = schools.heartbeat("s1", 100, {}, LATER)
    assert previous.school == dead
    assert [s.id for s in schools.list_all()] == ["s1"]
    assert schools.list_retired() == []
