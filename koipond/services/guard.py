"""The shutdown guard's driver: query Prometheus, evaluate, act through the same services as people."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from koipond.clock import Clock
from koipond.errors import ConflictError
from koipond.models.guard import Evaluation, GuardQuery, Outcome
from koipond.models.history import GUARD_ACTOR, EventKind
from koipond.models.tests import LoadTestStatus
from koipond.prometheus import PrometheusReader, truncate_to_millis
from koipond.services.guard_defaults import DEFAULT_QUERIES
from koipond.services.guard_evaluation import error_policy_note, evaluate, should_act
from koipond.services.history import new_event
from koipond.services.loadtests import LoadTestChange, LoadTestService
from koipond.services.ports.estop import EmergencyStopRepository
from koipond.services.ports.guard import GuardRepository

log = logging.getLogger("koipond.guard")


@dataclass(frozen=True)
class GuardStatus:
    queries: list[GuardQuery]
    last: dict[str, Evaluation]


class GuardService:
    def __init__(
        self,
        guard: GuardRepository,
        tests: LoadTestService,
        estop: EmergencyStopRepository,
        prometheus: PrometheusReader,
        clock: Clock,
    ) -> None:
        self._guard = guard
        self._tests = tests
        self._estop = estop
        self._prometheus = prometheus
        self._clock = clock

    def status(self) -> GuardStatus:
        self.ensure_defaults()
        queries = sorted(self._guard.list_queries(), key=lambda q: q.label)
        return GuardStatus(queries, self._guard.last_evaluations([q.label for q in queries]))

    def put_query(self, query: GuardQuery, actor: str) -> GuardQuery:
        event = new_event(self._clock, "guard", EventKind.GUARD_QUERY_PUT, actor, None, {"label": query.label})
        self._guard.put_query(query, event)
        return query

    def delete_query(self, label: str, actor: str) -> None:
        event = new_event(self._clock, "guard", EventKind.GUARD_QUERY_DELETED, actor, None, {"label": label})
        self._guard.delete_query(label, event)

    def ensure_defaults(self) -> None:
        """Store the shipped queries the first time the guard is used (once: deleting one sticks)."""
        if self._guard.mark_defaults_seeded():
            for query in DEFAULT_QUERIES:
                self.put_query(query, "koipond defaults")

    def run_once(self) -> list[Evaluation]:
        """Evaluate every enabled query once; act on those whose policy says so."""
        self.ensure_defaults()
        queries = [q for q in self._guard.list_queries() if q.enabled]
        previous = self._guard.last_evaluations([q.label for q in queries])
        results = []
        for query in sorted(queries, key=lambda q: q.label):
            evaluation = self._evaluate(query, previous.get(query.label))
            if evaluation.outcome is Outcome.ERROR:
                log.warning("guard %s cannot read Prometheus: %s", query.label, error_policy_note(query, evaluation))
            if should_act(query, evaluation):
                evaluation = evaluation.model_copy(update={"acted": self._act(query, evaluation)})
            self._guard.save_evaluation(evaluation)
            results.append(evaluation)
        return results

    def _evaluate(self, query: GuardQuery, previous: Evaluation | None) -> Evaluation:
        # On a whole millisecond, Prometheus' resolution, the window's start is a timestamp Prometheus can
        # evaluate at, so the sample that opens the window comes back exactly on its start.
        now = truncate_to_millis(self._clock.now())
        start = now - timedelta(seconds=query.time_range_seconds)
        result = self._prometheus.range_query(query.cluster, query.query, start, now, query.step_seconds)
        return evaluate(query, result, now, previous)

    def _act(self, query: GuardQuery, evaluation: Evaluation) -> bool:
        """Stop or shed the running tests in scope; never resume anything (the guard only removes load)."""
        if self._estop.get().active:
            return False  # everything is stopped already; the guard and the emergency stop never fight
        reason = f"guard {query.label}: {evaluation.detail or evaluation.outcome.value}"
        acted_on = []
        for test in self._tests.list_tests(LoadTestStatus.RUNNING):
            if not query.scope.covers(test.tags):
                continue
            try:
                if query.action.kind == "stop":
                    self._tests.stop(test.id, GUARD_ACTOR, reason)
                elif query.action.percent is not None and test.shed_percent < query.action.percent:
                    self._tests.change(test.id, LoadTestChange(shed_percent=query.action.percent), GUARD_ACTOR, reason)
                else:
                    continue
            except ConflictError:
                continue  # stopped meanwhile by someone else: already what the guard wants
            acted_on.append(test.id)
        if acted_on:
            verb = "stopped" if query.action.kind == "stop" else f"shed {query.action.percent:g}% of"
            text = f"Automatic shutdown: {verb} {len(acted_on)} test(s). {reason}"
            # No notify here: each stop's history event is its notification intent (koipond.notifications.intents).
            log.warning(text)
        return bool(acted_on)
