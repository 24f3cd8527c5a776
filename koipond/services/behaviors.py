"""Behaviors: validate uploaded documents and store each upload as a new version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from koipond.behavior_files import validation_problems
from koipond.clock import Clock
from koipond.errors import BehaviorInvalidError, ConflictError, NotFoundError
from koipond.models.behavior import BehaviorDocument, StoredBehavior
from koipond.models.behavior_cursors import cursor_version
from koipond.models.behavior_diff import BehaviorDiff, diff_behaviors
from koipond.models.history import EventKind
from koipond.models.tests import LoadTest
from koipond.services.behavior_moves import DEFAULT_BATCH_FRACTION, DEFAULT_INTERVAL_SECONDS, FollowedBehavior, follow
from koipond.services.history import new_event
from koipond.services.ports.behaviors import BehaviorRepository

_RETRIES_ON_RACE = 3


class BehaviorService:
    def __init__(
        self,
        behaviors: BehaviorRepository,
        clock: Clock,
        move_batch_fraction: float = DEFAULT_BATCH_FRACTION,
        move_interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self._behaviors = behaviors
        self._clock = clock
        # How fast a following test's koi move onto a new version: a share of them per interval.
        self._move = (move_batch_fraction, move_interval_seconds)

    def get(self, name: str, version: int | None = None) -> StoredBehavior:
        return self._behaviors.get(name, version)

    def list_latest(self) -> list[StoredBehavior]:
        return sorted(self._behaviors.list_latest(), key=lambda b: b.name)

    def versions(self, name: str, *, limit: int, cursor: str | None = None) -> tuple[list[StoredBehavior], str | None]:
        """One page of ``name``'s versions, newest first, and the cursor of the next (None after the last).

        Raises:
            NotFoundError: no version of ``name`` was ever stored.
            BadRequestError: the cursor is not one of this behavior's listing.
        """
        if cursor is not None:
            cursor_version(name, cursor)  # refused before anything is read
        versions, next_cursor = self._behaviors.versions_page(name, limit=limit, cursor=cursor)
        if not versions and cursor is None:
            raise NotFoundError(f"no behavior {name!r}", {"name": name, "version": None})
        return versions, next_cursor

    def diff(
        self, name: str, before: int, after: int | None = None
    ) -> tuple[StoredBehavior, StoredBehavior, BehaviorDiff]:
        """Two versions of ``name`` (``after`` None: the latest) and what changed from one to the other.

        Raises:
            NotFoundError: no such behavior, or no such version of it.
        """
        older, newer = self._behaviors.get(name, before), self._behaviors.get(name, after)
        return older, newer, diff_behaviors(older.document, newer.document)

    def followed_by(self, tests: Sequence[LoadTest]) -> dict[str, FollowedBehavior]:
        """What each test that follows its behavior's latest version runs now, by test id (one read per behavior)."""
        latest: dict[str, StoredBehavior] = {}
        followed: dict[str, FollowedBehavior] = {}
        now = self._clock.now()
        for test in tests:
            ref = test.behavior
            if not ref.follow_latest:
                continue
            if ref.name not in latest:
                latest[ref.name] = self._behaviors.get(ref.name)
            stored = latest[ref.name]
            followed[test.id] = follow(stored.version, stored.created_at, ref.version, now, *self._move)
        return followed

    def put(self, name: str, document: dict[str, Any], actor: str) -> StoredBehavior:
        """Validate ``document`` and store it as the next version of ``name``.

        Raises:
            BehaviorInvalidError: the document (or the name) breaks the schema; details list each problem.
        """
        try:
            parsed = BehaviorDocument.model_validate(document)
        except ValidationError as exc:
            problems = validation_problems(exc)
            summary = "; ".join(f"{p['path']}: {p['problem']}" for p in problems[:5])
            raise BehaviorInvalidError(f"behavior {name!r} is invalid: {summary}", {"problems": problems}) from exc
        for attempt in range(_RETRIES_ON_RACE):
            latest = self._behaviors.latest(name)
            version = (latest.version + 1) if latest else 1
            behavior = self._stored(name, version, parsed, actor)
            event = new_event(
                self._clock, f"behavior:{name}", EventKind.BEHAVIOR_PUT, actor, None, {"version": version}
            )
            try:
                self._behaviors.put(behavior, event)
                return behavior
            except ConflictError:
                if attempt == _RETRIES_ON_RACE - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _stored(self, name: str, version: int, document: BehaviorDocument, actor: str) -> StoredBehavior:
        try:
            return StoredBehavior(
                name=name, version=version, document=document, created_at=self._clock.now(), created_by=actor
            )
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise BehaviorInvalidError(f"behavior name {name!r} is invalid", {"problems": problems}) from exc
