"""Two allocators racing for the lease, dying mid-pass, with tests and Schools changing in between,
never store a koi twice, never exceed a School's capacity, and converge once one holds the lease.

A hypothesis state machine drives two Keeper instances (two Lambda executions or two local Keeper
processes) over one DynamoDB table (moto). A pass can be cut after any number of its writes, as a
process killed mid-pass would be. After every step the *stored* assignments are checked.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import boto3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from moto import mock_aws

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper
from koipond.errors import ConflictError, LostLeaseError, StoreError
from koipond.models.assignments import KOI_BLOCK
from koipond.models.tests import BehaviorRef, LoadTestStatus
from koipond.services.loadtests import LoadTestChange, NewLoadTest
from koipond.settings import Settings
from koipond.store.assignments import DynamoAssignmentRepository
from koipond.store.schema import create_table
from koipond.store.table import DynamoTable
from tests.conftest import MINIMAL_BEHAVIOR, START
from tests.integration.dynamodb_faults import FailingDynamoDB

SCHOOLS = {"s1": 700, "s2": 1200, "s3": 300, "s4": 2000}
POLL_INTERVAL = 5
LEASE_SECONDS = 5


class AllocatorRaces(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws()
        self.mock.start()
        self.clock = FixedClock(START)
        config = Settings(
            poll_interval_seconds=POLL_INTERVAL,
            missed_polls=3,
            table_name="races",
            allocator_lease_seconds=LEASE_SECONDS,
        )
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, config.table_name)
        # Each allocator's writes can be cut short: a process killed after its n-th write.
        self.clients = [FailingDynamoDB(client) for _ in range(2)]
        for faulty in self.clients:
            # Checked after every single write, not only between steps: no moment may hold a koi twice.
            faulty.after_write = self.stored_assignments_are_safe
        self.keepers: list[Keeper] = [build_keeper(config, c, self.clock) for c in self.clients]  # type: ignore[arg-type]
        self.assignments = DynamoAssignmentRepository(DynamoTable(client, config.table_name))
        self.test_ids: list[str] = []
        self.estop_active = False

    def teardown(self) -> None:
        self.mock.stop()

    @initialize()
    def upload_behavior(self) -> None:
        self.keepers[0].behaviors.put("average_user", MINIMAL_BEHAVIOR, "tests")

    @rule(koi=st.integers(1, 3000), keeper=st.integers(0, 1))
    def start_test(self, koi: int, keeper: int) -> None:
        spec = NewLoadTest("t", "http://127.0.0.1:1", BehaviorRef(name="average_user"), "w", koi)
        with contextlib.suppress(ConflictError):  # refused during the emergency stop: allowed
            self.test_ids.append(self.keepers[keeper].tests.create(spec, "tests").id)

    @precondition(lambda self: self.test_ids)
    @rule(data=st.data(), koi=st.integers(0, 3000), shed=st.sampled_from([None, 0.0, 10.0, 50.0, 100.0]))
    def change_test(self, data: Any, koi: int, shed: float | None) -> None:
        test_id = data.draw(st.sampled_from(self.test_ids))
        with contextlib.suppress(ConflictError):  # not running
            self.keepers[0].tests.change(test_id, LoadTestChange(koi=koi, shed_percent=shed), "tests", None)

    @precondition(lambda self: self.test_ids)
    @rule(data=st.data())
    def stop_or_resume(self, data: Any) -> None:
        test_id = data.draw(st.sampled_from(self.test_ids))
        service = self.keepers[1].tests
        with contextlib.suppress(ConflictError):
            if service.get(test_id).status is LoadTestStatus.RUNNING:
                service.stop(test_id, "tests", None)
            else:
                service.resume(test_id, "tests", None)

    @rule(school=st.sampled_from(sorted(SCHOOLS)), keeper=st.integers(0, 1))
    def poll(self, school: str, keeper: int) -> None:
        answer = self.keepers[keeper].polls.poll(school, SCHOOLS[school], {})
        if answer.stop_all:
            assert not answer.assignments

    @rule(keeper=st.integers(0, 1), writes=st.one_of(st.none(), st.integers(0, 4)))
    def allocator_pass(self, keeper: int, writes: int | None) -> None:
        """A pass by one allocator; with ``writes`` set, its process dies after that many writes."""
        self.clients[keeper].writes_left = writes
        try:
            self.keepers[keeper].allocator.run_pass()
        except (LostLeaseError, StoreError):
            pass  # the lease moved on, or the process died mid-pass: the next pass starts over
        finally:
            self.clients[keeper].writes_left = None

    @rule(seconds=st.sampled_from([1, LEASE_SECONDS + 1, 3 * POLL_INTERVAL + 1]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)  # lease expiry hands the lease over; long silences make Schools dead

    @rule(on=st.booleans())
    def emergency_stop(self, on: bool) -> None:
        estop = self.keepers[0].estop
        with contextlib.suppress(ConflictError):
            if on:
                estop.activate("tests", "drill")
            else:
                estop.lift("tests", "drill over")

    @invariant()
    def stored_assignments_are_safe(self) -> None:
        held: dict[str, list[tuple[int, int]]] = {}
        for assignment in self.assignments.list_all():
            assert assignment.koi <= SCHOOLS[assignment.school_id], f"{assignment.school_id} over capacity"
            for test in assignment.tests:
                assert all(r.start % KOI_BLOCK == 0 for r in test.ranges), "a range off a block boundary"
                held.setdefault(test.test_id, []).extend((r.start, r.end) for r in test.ranges)
        for test_id, spans in held.items():
            spans.sort()
            assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans)), (
                f"koi of {test_id} held twice: {spans}"
            )

    @rule()
    def a_full_pass_by_the_holder_converges(self) -> None:
        """Whoever holds the lease (or takes it), one uninterrupted pass leaves every demand in place."""
        keeper = self.keepers[0]
        self.clock.advance(LEASE_SECONDS + 1)  # any lease has expired: keeper 0 takes it
        for school in SCHOOLS:
            keeper.polls.record_heartbeat(school, SCHOOLS[school], {})
        report = keeper.allocator.run_pass()
        assert report.held
        assert keeper.allocator.run_pass().written == 0, "a second pass with nothing changed wrote"
        estop = keeper.estop.status().state.active
        running = {t.id: t for t in keeper.tests.list_tests() if t.status is LoadTestStatus.RUNNING}
        stored = keeper.polls.current_allocation()
        for test_id in {t for a in stored.assignments.values() for t in a} - set(running):
            raise AssertionError(f"{test_id} is not running but still assigned")
        if estop:
            assert not stored.assignments
            return
        capacity_blocks = sum(c // KOI_BLOCK for c in SCHOOLS.values())
        demand_blocks = sum(-(-t.active_koi // KOI_BLOCK) for t in running.values())
        if demand_blocks <= capacity_blocks:
            for test in running.values():
                assert sum(stored.koi_of_test(test.id).values()) == test.active_koi, f"{test.id} incomplete"
        keeper.allocator.release()


AllocatorRaces.TestCase.settings = settings(
    max_examples=15, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestAllocatorRaces = AllocatorRaces.TestCase
