"""Load test lifecycle: create, scale, shed, stop, resume and complete; every change leaves history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from koipond.clock import Clock
from koipond.errors import (
    BadRequestError,
    ConflictError,
    EmergencyStopActiveError,
    NotFoundError,
    StaleVersionError,
    TooManyRunningTestsError,
)
from koipond.ids import new_test_id
from koipond.models.cursors import decode_cursor
from koipond.models.history import EventKind, HistoryEvent
from koipond.models.tests import BehaviorRef, LoadTest, LoadTestStatus, ResumePolicy
from koipond.services.history import new_event
from koipond.services.ports.behaviors import BehaviorRepository
from koipond.services.ports.estop import EmergencyStopRepository
from koipond.services.ports.history import HistoryRepository
from koipond.services.ports.loadtests import LoadTestRepository
from koipond.services.ports.writes import StagedWrite

# The scale the allocator is built and measured for (bench/bench_keeper.py); every path that makes a test
# run checks it. The setting KOIPOND_MAX_RUNNING_TESTS may lower it (a test keeps the two defaults equal).
MAX_RUNNING_TESTS = 1000
_RETRIES_ON_RACE = 3


@dataclass(frozen=True)
class NewLoadTest:
    """What a person asks for when starting a test."""

    name: str
    target: str
    behavior: BehaviorRef
    workspace: str
    koi: int
    shed_percent: float = 0.0
    duration_seconds: int | None = None
    tags: tuple[str, ...] = ()
    resume_policy: ResumePolicy = field(default_factory=ResumePolicy)


@dataclass(frozen=True)
class LoadTestChange:
    """A change to a running test; None leaves a field as it is."""

    koi: int | None = None
    shed_percent: float | None = None


class LoadTestService:
    def __init__(
        self,
        tests: LoadTestRepository,
        history: HistoryRepository,
        estop: EmergencyStopRepository,
        behaviors: BehaviorRepository,
        clock: Clock,
        max_koi_per_test: int,
        max_running_tests: int = MAX_RUNNING_TESTS,
    ) -> None:
        self._tests = tests
        self._history = history
        self._estop = estop
        self._behaviors = behaviors
        self._clock = clock
        self._max_koi = max_koi_per_test
        self._max_running = max_running_tests

    def get(self, test_id: str) -> LoadTest:
        return self._tests.get(test_id)

    def list_tests(self, status: LoadTestStatus | None = None) -> list[LoadTest]:
        return self._tests.list_by_status(status)

    def events(self, test_id: str) -> list[HistoryEvent]:
        """A test's whole unexpired history, oldest first."""
        self._tests.get(test_id)  # 404 for unknown ids rather than an empty history
        return self._history.list_events(test_id, now=self._clock.now())

    def events_page(
        self, test_id: str, *, limit: int, cursor: str | None = None, newest_first: bool = False
    ) -> tuple[list[HistoryEvent], str | None]:
        """One page of a test's unexpired history and the cursor of the next (None after the last).

        Raises:
            BadRequestError: the cursor is not one of this test's history in this order.
            NotFoundError: no such test.
        """
        if cursor is not None:
            decode_cursor(cursor, test_id, newest_first=newest_first)  # refused before anything is read
        self._tests.get(test_id)
        return self._history.page(test_id, limit=limit, cursor=cursor, newest_first=newest_first, now=self._clock.now())

    def create(self, spec: NewLoadTest, actor: str) -> LoadTest:
        """Start a test; the behavior is pinned to its latest version when none is given (a test that follows the
        latest version starts on it).

        Raises:
            EmergencyStopActiveError: the emergency stop is active.
            BadRequestError: absurd koi count or unknown behavior.
            TooManyRunningTestsError: ``max_running_tests`` tests are running already.
        """
        self._refuse_during_estop("new tests are refused")
        self._check_koi(spec.koi)
        if spec.resume_policy.mode == "auto" and spec.duration_seconds is not None:
            # A test with an end is a measurement, not always-on traffic: restarting it would skew it.
            raise BadRequestError("automatic resume is for continuous tests only: drop the duration or the policy")
        self._refuse_past_running_cap("start another")
        now = self._clock.now()
        test = LoadTest(
            id=new_test_id(),
            name=spec.name,
            target=spec.target,
            behavior=self._pin_behavior(spec.behavior),
            workspace=spec.workspace,
            koi=spec.koi,
            shed_percent=spec.shed_percent,
            duration_seconds=spec.duration_seconds,
            tags=spec.tags,
            resume_policy=spec.resume_policy,
            created_at=now,
            created_by=actor,
            updated_at=now,
        )
        details = {"koi": test.koi, "behavior": test.behavior.model_dump(), "target": test.target}
        self._tests.create(test, new_event(self._clock, test.id, EventKind.TEST_CREATED, actor, None, details))
        return test

    def change(
        self,
        test_id: str,
        change: LoadTestChange,
        actor: str,
        reason: str | None,
        expected_version: int | None = None,
        also: Sequence[StagedWrite] = (),
    ) -> LoadTest:
        """Scale and/or shed a running test; ``also`` are writes the caller staged (e.g. a rollout's transition)
        that must happen in the same transaction or not at all.

        Raises:
            BadRequestError: nothing to change, or an absurd koi count.
            ConflictError: the test is not running.
            StaleVersionError: ``expected_version`` is not the stored version.
        """
        if change.koi is None and change.shed_percent is None:
            raise BadRequestError("give koi and/or shed_percent to change")
        if change.koi is not None:
            self._check_koi(change.koi)

        def apply(test: LoadTest) -> tuple[LoadTest, EventKind, dict[str, Any]]:
            if test.status is not LoadTestStatus.RUNNING:
                raise ConflictError(f"load test {test.id!r} is {test.status.value}; resume it first")
            koi = test.koi if change.koi is None else change.koi
            shed = test.shed_percent if change.shed_percent is None else change.shed_percent
            kind = EventKind.TEST_SCALED if koi != test.koi else EventKind.TEST_SHED
            details = {"koi": [test.koi, koi], "shed_percent": [test.shed_percent, shed]}
            return test.model_copy(update={"koi": koi, "shed_percent": shed}), kind, details

        return self._update(test_id, apply, actor, reason, expected_version, also)

    def stop(self, test_id: str, actor: str, reason: str | None, expected_version: int | None = None) -> LoadTest:
        """Stop a test; stopping a stopped test changes nothing and records nothing."""

        def apply(test: LoadTest) -> tuple[LoadTest, EventKind, dict[str, Any]] | None:
            if test.status is not LoadTestStatus.RUNNING:
                return None
            return (
                test.model_copy(update={"status": LoadTestStatus.STOPPED, "stopped_reason": reason}),
                EventKind.TEST_STOPPED,
                {},
            )

        return self._update(test_id, apply, actor, reason, expected_version)

    def resume(self, test_id: str, actor: str, reason: str | None, expected_version: int | None = None) -> LoadTest:
        """Run a stopped test again.

        Raises:
            EmergencyStopActiveError: the emergency stop is active.
            ConflictError: the test is running, or completed (its duration is over).
            TooManyRunningTestsError: ``max_running_tests`` tests are running already.
        """
        self._refuse_during_estop("tests cannot be resumed")
        self._refuse_past_running_cap(f"resume {test_id}")

        def apply(test: LoadTest) -> tuple[LoadTest, EventKind, dict[str, Any]]:
            if test.status is not LoadTestStatus.STOPPED:
                raise ConflictError(f"load test {test.id!r} is {test.status.value}; only stopped tests resume")
            return (
                test.model_copy(update={"status": LoadTestStatus.RUNNING, "stopped_reason": None}),
                EventKind.TEST_RESUMED,
                {},
            )

        return self._update(test_id, apply, actor, reason, expected_version)

    def _refuse_past_running_cap(self, action: str) -> None:
        """Raises TooManyRunningTestsError when no further test may run (``max_running_tests``)."""
        running = len(self._tests.list_by_status(LoadTestStatus.RUNNING))
        if running >= self._max_running:
            raise TooManyRunningTestsError(
                f"{running} tests are running, the most that may run at once is {self._max_running}: "
                f"stop one before you {action}",
                {"running": running, "max_running": self._max_running},
            )

    def complete_elapsed(self, tests: list[LoadTest]) -> None:
        """Mark running tests whose duration is over as completed (done lazily, by polls)."""
        now = self._clock.now()
        for test in tests:
            if test.status is LoadTestStatus.RUNNING and test.has_elapsed(now):

                def apply(current: LoadTest) -> tuple[LoadTest, EventKind, dict[str, Any]] | None:
                    if current.status is not LoadTestStatus.RUNNING:
                        return None
                    return (
                        current.model_copy(update={"status": LoadTestStatus.COMPLETED}),
                        EventKind.TEST_COMPLETED,
                        {},
                    )

                self._update(test.id, apply, "keeper", "duration elapsed", None)

    def _update(
        self,
        test_id: str,
        apply: Callable[[LoadTest], tuple[LoadTest, EventKind, dict[str, Any]] | None],
        actor: str,
        reason: str | None,
        expected_version: int | None,
        also: Sequence[StagedWrite] = (),
    ) -> LoadTest:
        """Read, apply, write conditionally; retry on a race unless the caller pinned a version."""
        for attempt in range(_RETRIES_ON_RACE):
            test = self._tests.get(test_id)
            if expected_version is not None and test.version != expected_version:
                raise StaleVersionError(
                    f"load test {test_id!r} is at version {test.version}, not {expected_version}",
                    {"test_id": test_id, "version": test.version, "expected_version": expected_version},
                )
            outcome = apply(test)
            if outcome is None:
                return test
            updated, kind, details = outcome
            updated = updated.model_copy(update={"updated_at": self._clock.now()})
            event = new_event(self._clock, test_id, kind, actor, reason, details)
            try:
                # The allocator shrinks the Schools' assignments on its next pass (within a second or so).
                return self._tests.save(updated, test.version, event, also)
            except StaleVersionError as exc:
                pinned = expected_version is not None and exc.details.get("conflict") == "test"
                if pinned or attempt == _RETRIES_ON_RACE - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_koi(self, koi: int) -> None:
        if koi < 0 or koi > self._max_koi:
            raise BadRequestError(
                f"koi must be between 0 and {self._max_koi:,}, got {koi:,}",
                {"koi": koi, "max": self._max_koi},
            )

    def _pin_behavior(self, ref: BehaviorRef) -> BehaviorRef:
        try:
            stored = self._behaviors.get(ref.name, ref.version)
        except NotFoundError as exc:
            raise BadRequestError(
                f"{exc.message}; upload it first (PUT /v1/behaviors/{ref.name})", exc.details
            ) from exc
        return BehaviorRef(name=stored.name, version=stored.version, follow_latest=ref.follow_latest)

    def _refuse_during_estop(self, what: str) -> None:
        estop = self._estop.get()
        if estop.active:
            raise EmergencyStopActiveError(
                f"the emergency stop is active ({estop.reason}); {what} until it is lifted",
                {"activated_by": estop.activated_by, "reason": estop.reason},
            )
