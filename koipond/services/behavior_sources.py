"""Behaviors that follow reality: set a behavior's source, and re-derive it on its schedule in the release tick.

A tick takes at most ``MAX_RUNS_PER_TICK`` due sources. Each is first *claimed* (a conditional write on its
version sets ``claimed_until``), so of two concurrent ticks one runs it and the other skips it; a tick that
dies holding it lets it become due again when the claim lapses, so a run is neither skipped nor repeated.
The run's outcome is written in one transaction with the source's next due time: the new version and its
history event (which notifies), or the failure's event, or just "unchanged".
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from koipond.clock import Clock
from koipond.errors import BadRequestError, KoipondError, NotFoundError, StaleVersionError
from koipond.models.behavior import BehaviorDocument, StoredBehavior
from koipond.models.behavior_derive import derive_behavior
from koipond.models.behavior_diff import diff_behaviors
from koipond.models.behavior_source import (
    BehaviorSource,
    BehaviorSourceState,
    RateMove,
    SourceOutcome,
    describe_moves,
    next_due_after,
    rate_moves,
)
from koipond.models.history import EventKind
from koipond.services.history import new_event
from koipond.services.ports.behavior_sources import BehaviorSourceRepository
from koipond.services.ports.behaviors import BehaviorRepository
from koipond.services.ports.history import HistoryRepository
from koipond.services.ports.writes import StagedWrite
from koipond.services.usage_rates import SourceReaders, location_problem, read_rates

log = logging.getLogger("koipond.behavior_sources")

# Bounded work per tick: a tick has 50 s on AWS, and a run may wait on Prometheus (10 s) or read a large export.
MAX_RUNS_PER_TICK = 2
# Longer than any run can take (the tick's own timeout), shorter than the shortest schedule.
CLAIM_SECONDS = 300
# A run reads at most one export (S3: up to 3 attempts of 4 s, then ~2.5 s to parse 16 MiB) or two queries
# (10 s each): no new run starts after this much of the step, so the tick's other steps keep their time.
RUN_BUDGET_SECONDS = 20.0
TICK_ACTOR = "release-tick"
_MAX_MESSAGE = 1000


@dataclass(frozen=True)
class RunResult:
    """What one run decided: the state to store, and what lands with it."""

    state: BehaviorSourceState
    also: tuple[StagedWrite, ...] = ()
    summary: str = ""


class BehaviorSourceService:
    def __init__(
        self,
        sources: BehaviorSourceRepository,
        behaviors: BehaviorRepository,
        history: HistoryRepository,
        readers: SourceReaders,
        clock: Clock,
    ) -> None:
        self._sources = sources
        self._behaviors = behaviors
        self._history = history
        self._readers = readers
        self._clock = clock

    def get(self, name: str) -> BehaviorSourceState:
        """Raises NotFoundError: the behavior has no source."""
        state = self._sources.get(name)
        if state is None:
            raise NotFoundError(f"behavior {name!r} has no source", {"name": name})
        return state

    def list_all(self) -> list[BehaviorSourceState]:
        return self._sources.list_all()

    def put(self, name: str, source: BehaviorSource, actor: str) -> BehaviorSourceState:
        """Set (or replace) the source of ``name``; its first run is due at once.

        Raises:
            NotFoundError: no version of ``name`` exists (a source re-derives a behavior: upload one first).
            BadRequestError: the Keeper may not read the source (a bucket outside its locations, an unknown cluster).
            StaleVersionError: a tick or a person changed the source meanwhile; retry.
        """
        if self._behaviors.latest(name) is None:
            raise NotFoundError(
                f"no behavior {name!r}: upload a version first (PUT /v1/behaviors/{name})", {"name": name}
            )
        problem = location_problem(source, self._readers)
        if problem is not None:
            raise BadRequestError(problem, {"source": source.describe()})
        now = self._clock.now()
        stored = self._sources.get(name)
        state = BehaviorSourceState(name=name, source=source, next_due_at=now, updated_at=now, updated_by=actor)
        event = new_event(
            self._clock, f"behavior:{name}", EventKind.BEHAVIOR_SOURCE_PUT, actor, None, {"source": source.describe()}
        )
        expected = None if stored is None else stored.version
        return self._sources.save(state, expected, also=[self._history.append_action(event)])

    def delete(self, name: str, actor: str) -> BehaviorSourceState:
        """Stop re-deriving ``name`` (its versions stay); the source as it was.

        Raises:
            NotFoundError: the behavior has no source.
        """
        state = self.get(name)
        details = {"source": state.source.describe()}
        event = new_event(self._clock, f"behavior:{name}", EventKind.BEHAVIOR_SOURCE_DELETED, actor, None, details)
        if not self._sources.delete(name, also=[self._history.append_action(event)]):
            raise NotFoundError(f"behavior {name!r} has no source", {"name": name})
        return state

    def tick(self) -> Mapping[str, Any]:
        """Re-derive the sources that are due (at most ``MAX_RUNS_PER_TICK``); never raises for one source's fault."""
        now = self._clock.now()
        report: dict[str, Any] = {"runs": {}}
        started = time.monotonic()
        for state in self._sources.due(now, MAX_RUNS_PER_TICK):
            if time.monotonic() - started > RUN_BUDGET_SECONDS:
                break  # the rest is still due: the next tick takes it
            claim = state.model_copy(update={"claimed_until": now + timedelta(seconds=CLAIM_SECONDS)})
            try:
                claimed = self._sources.save(claim, state.version)
            except StaleVersionError:
                continue  # another tick claimed it (or a person changed it) since it was listed
            report["runs"][state.name] = self._run_and_record(claimed, now)
        return report

    def _run_and_record(self, claimed: BehaviorSourceState, now: datetime) -> str:
        try:
            result = self._run(claimed, now)
        except Exception as exc:  # a bug in one run must not stop the tick; the failure is recorded like any other
            log.exception("re-deriving behavior %s failed", claimed.name)
            result = self._failed(claimed, now, f"{type(exc).__name__}: {exc}")
        try:
            self._sources.save(result.state, claimed.version, also=result.also)
        except StaleVersionError as exc:
            if exc.details.get("conflict") == "source":
                return "dropped: the source changed meanwhile"
            # A person stored a version meanwhile: derive again from it at the next tick (if the release fails
            # too, the claim lapses instead).
            with contextlib.suppress(StaleVersionError):
                self._sources.save(claimed.model_copy(update={"claimed_until": None}), claimed.version)
            return "retrying: a new version was stored meanwhile"
        return result.summary

    def _run(self, claimed: BehaviorSourceState, now: datetime) -> RunResult:
        source = claimed.source
        latest = self._behaviors.latest(claimed.name)
        if latest is None:
            return self._failed(claimed, now, f"behavior {claimed.name!r} has no version to derive from")
        try:
            rates = read_rates(source, self._readers, now)
            derived = derive_behavior(rates, latest.document, latest.document.description)
        except KoipondError as exc:
            return self._failed(claimed, now, exc.message)
        except ValueError as exc:  # a document the schema refuses (e.g. it grew past the size limit)
            return self._failed(claimed, now, str(exc))
        document = keep_left_out_actions(derived.document, latest.document)
        moves = rate_moves(diff_behaviors(latest.document, document), source.threshold_percent)
        if not moves:
            message = f"no rate moved more than {source.threshold_percent:g}%"
            return RunResult(self._next(claimed, now, "unchanged", message), summary="unchanged")
        return self._published(claimed, now, latest, document, moves)

    def _published(
        self,
        claimed: BehaviorSourceState,
        now: datetime,
        latest: StoredBehavior,
        document: BehaviorDocument,
        moves: tuple[RateMove, ...],
    ) -> RunResult:
        source = claimed.source.describe()
        version = latest.version + 1
        behavior = StoredBehavior(
            name=claimed.name,
            version=version,
            document=document,
            created_at=now,
            created_by=f"derive:{source}"[:256],
        )
        details = {
            "version": version,
            "previous_version": latest.version,
            "source": source,
            "changes": [move.describe() for move in moves],
            "moves": [{"action": m.action, "before": m.before, "after": m.after, "percent": m.percent} for m in moves],
        }
        event = new_event(
            self._clock, f"behavior:{claimed.name}", EventKind.BEHAVIOR_REDERIVED, TICK_ACTOR, None, details
        )
        state = self._next(claimed, now, "published", describe_moves(moves)[:_MAX_MESSAGE])
        state = state.model_copy(update={"last_published_version": version})
        also = (self._behaviors.stage_put(behavior), self._history.append_action(event))
        return RunResult(state, also, f"published version {version}")

    def _failed(self, claimed: BehaviorSourceState, now: datetime, message: str) -> RunResult:
        message = message[:_MAX_MESSAGE]
        state = self._next(claimed, now, "failed", message)
        state = state.model_copy(update={"consecutive_failures": claimed.consecutive_failures + 1})
        details = {
            "source": claimed.source.describe(),
            "next_due_at": state.next_due_at.isoformat(),
            "consecutive_failures": state.consecutive_failures,
        }
        event = new_event(
            self._clock, f"behavior:{claimed.name}", EventKind.BEHAVIOR_REDERIVE_FAILED, TICK_ACTOR, message, details
        )
        return RunResult(state, (self._history.append_action(event),), f"failed: {message}")

    def _next(
        self, claimed: BehaviorSourceState, now: datetime, outcome: SourceOutcome, message: str
    ) -> BehaviorSourceState:
        return claimed.model_copy(
            update={
                "next_due_at": next_due_after(claimed.next_due_at, claimed.source.schedule, now),
                "claimed_until": None,
                "last_run_at": now,
                "last_outcome": outcome,
                "last_message": message,
                "consecutive_failures": 0,
                "updated_at": now,
                "updated_by": TICK_ACTOR,
            }
        )


def keep_left_out_actions(derived: BehaviorDocument, base: BehaviorDocument) -> BehaviorDocument:
    """``derived`` with the base's actions no method mapped to kept at rate 0, in the base's order.

    ``koipond behaviors derive`` leaves them out of a file a person reads; a re-derived version keeps them,
    since the base of the next run is this version: an action whose method was quiet for one window must
    be able to come back when it is called again.
    """
    actions: dict[str, Any] = {}
    for name, action in base.actions.items():
        kept = derived.actions.get(name) or action.model_copy(update={"rate_per_hour": 0.0, "weight": 1.0})
        actions[name] = kept.model_dump(mode="json", exclude_none=True)
    return BehaviorDocument.model_validate({**derived.model_dump(mode="json", exclude_none=True), "actions": actions})
