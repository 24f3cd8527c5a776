"""The ports of behavior sources: their storage, and reading what they name (an S3 object, a Prometheus query)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from koipond.models.behavior_source import BehaviorSourceState
from koipond.models.prometheus import VectorResult
from koipond.services.ports.writes import StagedWrite


class BehaviorSourceRepository(Protocol):
    def get(self, name: str) -> BehaviorSourceState | None:
        """The source of behavior ``name``; None when it has none."""
        ...

    def list_all(self) -> list[BehaviorSourceState]:
        """Every source, by name."""
        ...

    def due(self, now: datetime, limit: int) -> list[BehaviorSourceState]:
        """At most ``limit`` sources due at ``now`` (:meth:`BehaviorSourceState.due`), the longest due first."""
        ...

    def save(
        self, state: BehaviorSourceState, expected_version: int | None, also: Sequence[StagedWrite] = ()
    ) -> BehaviorSourceState:
        """Store ``state`` as version ``expected_version + 1`` (1 when None: no source stored yet), with ``also``.

        Raises:
            StaleVersionError: the stored source is not at ``expected_version`` (another tick or person
                changed it), or a condition of ``also`` failed; nothing was written.
        """
        ...

    def delete(self, name: str, also: Sequence[StagedWrite] = ()) -> bool:
        """Remove the source of ``name`` (with ``also``); False when it had none."""
        ...


class UsageObjects(Protocol):
    def read_text(self, bucket: str, key: str, max_bytes: int) -> str:
        """The object's text (UTF-8, gunzipped when its key ends with ``.gz``).

        Raises:
            SourceUnreadableError: no such object, access refused, larger than ``max_bytes``, not UTF-8 text.
        """
        ...


class InstantQueries(Protocol):
    def instant_vector(self, cluster: str, query: str, at: datetime) -> VectorResult:
        """Every series ``query`` yields at ``at`` on the configured cluster ``cluster``, or an error saying why not."""
        ...
