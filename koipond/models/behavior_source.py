"""Behavior sources: where a behavior's rates come from, how often they are derived again, and what change counts.

A source belongs to a behavior name, not to a version: versions are immutable and say what koi do; a source
says how the Keeper makes the next one, and carries state that changes on every run (when it is due,
what the last run found). It never holds a secret: a Prometheus source names one of the Keeper's
configured clusters (whose credentials stay in the Keeper's settings), and an S3 source may only read
under the locations the Keeper is configured to allow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from koipond.models.behavior import BEHAVIOR_NAME_PATTERN
from koipond.models.behavior_diff import BehaviorDiff, RateChange
from koipond.models.durations import DurationSeconds, format_duration
from koipond.models.guard import DEFAULT_CLUSTER
from koipond.models.text import unsafe_character_problem

DEFAULT_SCHEDULE_SECONDS = 86_400
# Re-deriving more often than hourly chases noise, and each run reads a whole export.
MIN_SCHEDULE_SECONDS = 3_600
MAX_SCHEDULE_SECONDS = 366 * 86_400
DEFAULT_THRESHOLD_PERCENT = 10.0
MAX_QUERY_LENGTH = 4_000
S3_BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]{0,127}$"
CLUSTER_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_S3_ONLY = ("bucket", "key", "format", "percentile")
_PROMETHEUS_ONLY = ("cluster", "query", "users_query", "users")


class BehaviorSource(BaseModel):
    """Where a behavior's rates come from: a usage export in S3, or the service's Prometheus.

    ``kind: s3`` reads ``s3://bucket/key`` (CSV or JSON lines, maybe gzipped) as ``koipond behaviors derive``
    reads a file; ``kind: prometheus`` asks the configured cluster ``cluster`` the per-method request rate
    (``query``) and the active users (``users_query``, or a fixed ``users``). The base of every run is the
    behavior's own latest version: its action templates, websocket, channels and formations are kept.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["s3", "prometheus"]
    bucket: str | None = Field(default=None, pattern=S3_BUCKET_PATTERN, description="s3: the export's bucket.")
    key: str | None = Field(default=None, min_length=1, max_length=1024, description="s3: the export's object key.")
    format: Literal["csv", "jsonl"] | None = Field(
        default=None, description="s3: csv or jsonl; default from the key's suffix (.csv, .jsonl, .ndjson, .json, .gz)."
    )
    percentile: float | None = Field(
        default=None, gt=0, le=100, description="s3: rates of the user at this percentile instead of the average."
    )
    percentile_of: Literal["method", "user"] = "method"
    cluster: str | None = Field(
        default=None,
        pattern=CLUSTER_PATTERN,
        description=f"prometheus: a configured cluster (default {DEFAULT_CLUSTER!r}, KOIPOND_PROMETHEUS_URL).",
    )
    query: str | None = Field(default=None, min_length=1, max_length=MAX_QUERY_LENGTH)
    users_query: str | None = Field(default=None, min_length=1, max_length=MAX_QUERY_LENGTH)
    users: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    method_label: str = Field(default="method", pattern=LABEL_NAME_PATTERN)
    window: DurationSeconds | None = Field(
        default=None, ge=60, le=MAX_SCHEDULE_SECONDS, description="The export's length, or $window in queries."
    )
    schedule: DurationSeconds = Field(
        default=DEFAULT_SCHEDULE_SECONDS,
        ge=MIN_SCHEDULE_SECONDS,
        le=MAX_SCHEDULE_SECONDS,
        description="How often the release tick derives it again (default 1d, at least 1h).",
    )
    threshold_percent: float = Field(
        default=DEFAULT_THRESHOLD_PERCENT,
        gt=0,
        le=1000,
        allow_inf_nan=False,
        description="Publish a new version only when some action's rate moved more than this (default 10).",
    )

    @model_validator(mode="after")
    def _fields_of_kind(self) -> BehaviorSource:
        problems = _s3_problems(self) if self.kind == "s3" else _prometheus_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def s3_object(self) -> tuple[str, str]:
        """Bucket and key of an S3 source (checked present by validation)."""
        if self.bucket is None or self.key is None:
            raise ValueError(f"a {self.kind} source has no S3 object")
        return self.bucket, self.key

    @property
    def cluster_name(self) -> str:
        return self.cluster or DEFAULT_CLUSTER

    @property
    def file_format(self) -> str | None:
        """``csv`` or ``jsonl``: as given, or from the key's suffix (None when it cannot be told)."""
        return self.format or (_format_of(self.key) if self.key else None)

    def describe(self) -> str:
        """``s3://bucket/key``, or ``prometheus pond: <query>`` (for people; never holds a secret)."""
        if self.kind == "s3":
            return f"s3://{self.bucket}/{self.key}"
        return f"prometheus {self.cluster_name}: {self.query}"

    def queries(self) -> tuple[str, str | None]:
        """The rate query and the users query, ``$window`` replaced by the window."""
        window = format_duration(self.window) if self.window else ""
        query = (self.query or "").replace("$window", window)
        users = None if self.users_query is None else self.users_query.replace("$window", window)
        return query, users


def _s3_problems(source: BehaviorSource) -> list[str]:
    problems = [f"{name} applies to kind prometheus only" for name in _PROMETHEUS_ONLY if getattr(source, name)]
    if source.method_label != "method":
        problems.append("method_label applies to kind prometheus only")
    if source.bucket is None or source.key is None:
        problems.append("kind s3 needs bucket and key")
    elif source.key.startswith("/") or unsafe_character_problem(source.key):
        problems.append("key must not start with / or contain control characters")
    elif source.file_format is None:
        problems.append(f"cannot tell the format of {source.key!r} from its suffix; give format: csv or jsonl")
    return problems


def _prometheus_problems(source: BehaviorSource) -> list[str]:
    problems = [f"{name} applies to kind s3 only" for name in _S3_ONLY if getattr(source, name) is not None]
    if source.query is None:
        problems.append("kind prometheus needs query: requests per second, one series per method")
    if (source.users_query is None) == (source.users is None):
        problems.append("kind prometheus needs one of users_query or users (active users)")
    written = " ".join(q for q in (source.query, source.users_query) if q)
    if "$window" in written and source.window is None:
        problems.append("a query uses $window: give window (e.g. 7d)")
    problem = unsafe_character_problem(written, lines=True)
    if problem:
        problems.append(f"queries {problem}")
    return problems


_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def _format_of(key: str) -> str | None:
    name = key.rsplit("/", 1)[-1].lower().removesuffix(".gz")
    dot = name.rfind(".")
    return _SUFFIXES.get(name[dot:]) if dot >= 0 else None


SourceOutcome = Literal["published", "unchanged", "failed"]


class BehaviorSourceState(BaseModel):
    """A behavior's source as the Keeper stores it, with when it is due and what its last run found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=BEHAVIOR_NAME_PATTERN)
    source: BehaviorSource
    next_due_at: AwareDatetime
    claimed_until: AwareDatetime | None = None
    """A tick working on it holds it until then; a tick that died lets it become due again after that."""
    last_run_at: AwareDatetime | None = None
    last_outcome: SourceOutcome | None = None
    last_message: str | None = Field(default=None, max_length=2000)
    last_published_version: int | None = None
    consecutive_failures: int = Field(default=0, ge=0)
    updated_at: AwareDatetime
    updated_by: str = Field(min_length=1, max_length=256)
    version: int = Field(default=1, ge=1)

    def due(self, now: datetime) -> bool:
        """Whether a tick should run it now: its time has come and no live tick holds it."""
        return self.next_due_at <= now and (self.claimed_until is None or self.claimed_until <= now)


def next_due_after(due: datetime, schedule_seconds: int, now: datetime) -> datetime:
    """The first time on ``due``'s schedule after ``now`` (a tick that was down skips the runs it missed, once).

    Args:
        due: when the run that just happened was due.
        schedule_seconds: the schedule's period.
        now: the time of the run.

    Returns:
        ``due + k * schedule`` for the smallest k ≥ 1 that is after ``now``.
    """
    period = timedelta(seconds=schedule_seconds)
    behind = max(0, math.floor((now - due) / period))
    return due + period * (behind + 1)


@dataclass(frozen=True)
class RateMove:
    """One action whose steady rate (calls per koi per hour) moved enough to publish, or appeared or went away."""

    action: str
    before: float | None
    """None: the action is new."""
    after: float | None
    """None: the action is gone."""

    @property
    def percent(self) -> float | None:
        if self.before is None or self.after is None or self.before == 0:
            return None
        return 100 * (self.after - self.before) / self.before

    def describe(self) -> str:
        """``read_history 20 -> 26/h (+30%)``, ``files_upload new at 1.5/h``, ``auth_test gone (was 1/h)``."""
        if self.before is None:
            return f"{self.action} new at {self.after:.3g}/h"
        if self.after is None:
            return f"{self.action} gone (was {self.before:.3g}/h)"
        percent = self.percent
        change = "from 0" if percent is None else f"{percent:+.3g}%"
        return f"{self.action} {self.before:.3g} -> {self.after:.3g}/h ({change})"


def rate_moves(diff: BehaviorDiff, threshold_percent: float) -> tuple[RateMove, ...]:
    """The changes of ``diff`` that publish a new version: a rate moved more than the threshold, an action came or went.

    A rate that leaves 0 always counts (no ratio to 0); one that moves exactly the threshold does not.
    """
    moves = [RateMove(a.action, None, a.per_koi_per_hour) for a in diff.actions_added]
    moves += [RateMove(a.action, a.per_koi_per_hour, None) for a in diff.actions_removed]
    moves += [_move(change) for change in diff.rate_changes if _moved(change, threshold_percent)]
    return tuple(sorted(moves, key=lambda move: move.action))


def _moved(change: RateChange, threshold_percent: float) -> bool:
    percent = change.percent
    return percent is None or abs(percent) > threshold_percent


def _move(change: RateChange) -> RateMove:
    return RateMove(change.action, change.before_per_koi_per_hour, change.after_per_koi_per_hour)


def describe_moves(moves: Sequence[RateMove]) -> str:
    """Every move on one line, ``; `` between them."""
    return "; ".join(move.describe() for move in moves)


@dataclass(frozen=True)
class S3Location:
    """Where S3 sources may read: a bucket, and a key prefix ("" for the whole bucket)."""

    bucket: str
    prefix: str

    def holds(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and key.startswith(self.prefix)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_locations(text: str) -> tuple[S3Location, ...]:
    """``s3://bucket/prefix/,s3://other`` as locations.

    Raises:
        ValueError: an entry is not ``s3://bucket[/prefix]`` (the message names it).
    """
    locations = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        bucket, _, prefix = entry.removeprefix("s3://").partition("/")
        if not entry.startswith("s3://") or not re.fullmatch(S3_BUCKET_PATTERN, bucket) or "*" in prefix:
            raise ValueError(f"not an S3 location: {entry!r} (write s3://bucket/prefix/)")
        locations.append(S3Location(bucket, prefix))
    return tuple(locations)
