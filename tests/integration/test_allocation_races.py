"""Concurrent polls, scale changes, stops and School deaths never double-assign a koi nor over-allocate.

A hypothesis state machine drives several Keeper instances (as several Lambda containers would be)
over one DynamoDB table (moto), splitting each poll into its read and its conditional write so that
other operations land in between. After every step the *stored* allocation is checked.
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

from koipond.composition import Keeper, build_keeper
from koipond.errors import ConflictError, StaleVersionError
from koipond.models.allocation import Allocation
from koipond.models.tests import BehaviorRef, LoadTestStatus
from koipond.ports import FixedClock
from koipond.services.loadtests import LoadTestChange, NewLoadTest
from koipond.services.polling import PollSnapshot
from koipond.settings import Settings
from koipond.store.schema import create_table
from tests.conftest import MINIMAL_BEHAVIOR, START

SCHOOLS = {"s1": 700, "s2": 1200, "s3": 300, "s4": 2000}
POLL_INTERVAL = 5


class AllocationRaces(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws()
        self.mock.start()
        self.clock = FixedClock(START)
        config = Settings(poll_interval_seconds=POLL_INTERVAL, missed_polls=3, table_name="races")
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, config.table_name)
        # Two Keeper instances over one table: concurrent Lambda containers.
        self.keepers = [build_keeper(config, client, self.clock) for _ in range(2)]
        self.pending: list[tuple[Keeper, PollSnapshot]] = []
        self.test_ids: list[str] = []
        self.stale_writes = 0
        # Every allocation any poll acted on, by version: one linear history, never two versions "v".
        self.history: dict[int, Allocation] = {}

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
        try:
            if service.get(test_id).status is LoadTestStatus.RUNNING:
                service.stop(test_id, "tests", None)
            else:
                service.resume(test_id, "tests", None)
        except ConflictError:
            pass

    @rule(school=st.sampled_from(sorted(SCHOOLS)), keeper=st.integers(0, 1))
    def begin_poll(self, school: str, keeper: int) -> None:
        """The read half of a poll; its write happens in a later step."""
        polls = self.keepers[keeper].polls
        polls.record_heartbeat(school, SCHOOLS[school], {})
        self.pending.append((self.keepers[keeper], polls.snapshot()))

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def finish_poll(self, data: Any) -> None:
        keeper, snapshot = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
        try:
            self._record(keeper.polls.reallocate(snapshot))
        except StaleVersionError:
            self.stale_writes += 1  # lost the race: nothing written, the School polls again

    def _record(self, allocation: Allocation) -> None:
        known = self.history.setdefault(allocation.version, allocation)
        assert known.same_assignments(allocation), f"two different allocations were both version {allocation.version}"

    @rule(school=st.sampled_from(sorted(SCHOOLS)))
    def whole_poll(self, school: str) -> None:
        answer = self.keepers[1].polls.poll(school, SCHOOLS[school], {})
        told = {a.test_id: a.ranges for a in answer.assignments}
        known = self.history.get(answer.allocation_version)
        if known is not None and not answer.stop_all:
            assert told == known.for_school(school), "a School was told something no stored version says"

    @rule(seconds=st.sampled_from([1, POLL_INTERVAL, 3 * POLL_INTERVAL + 1]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)  # long silences make Schools dead

    @rule(on=st.booleans())
    def emergency_stop(self, on: bool) -> None:
        estop = self.keepers[0].estop
        if on:
            estop.activate("tests", "drill")
        else:
            estop.lift("tests", "drill over")

    @invariant()
    def stored_allocation_is_safe(self) -> None:
        keeper = self.keepers[0]
        allocation = keeper.polls.current_allocation()
        self._record(allocation)
        tests = {t.id: t for t in keeper.tests.list_tests()}
        held: dict[str, list[tuple[int, int]]] = {}
        for school_id, assigned in allocation.assignments.items():
            assert sum(r.size for ranges in assigned.values() for r in ranges) <= SCHOOLS[school_id]
            for test_id, ranges in assigned.items():
                held.setdefault(test_id, []).extend((r.start, r.end) for r in ranges)
        for test_id, spans in held.items():
            spans.sort()
            assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans)), (
                f"koi of {test_id} held twice: {spans}"
            )
            assert spans[-1][1] <= tests[test_id].active_koi, f"{test_id} over-allocated"
        if keeper.estop.status().state.active:
            assert not allocation.assignments


AllocationRaces.TestCase.settings = settings(
    max_examples=25, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestAllocationRaces = AllocationRaces.TestCase
