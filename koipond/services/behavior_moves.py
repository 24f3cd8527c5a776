"""Moving a test's koi onto a new behavior version in small batches: pure, so every School agrees without talking.

A test that follows the latest version of its behavior learns of a new version from its spec, which names
the version before it and when the change began (:class:`BehaviorChange`). Koi are split into ``batches``
batches by index (``(index + salt) % batches``, so each batch is an even share of every School's koi
ranges); batch ``b`` moves at ``started_at + b * interval``. A koi that moved never moves back, every koi
has moved ``(batches - 1) * interval`` after the start, and no interval moves more than one batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_BATCH_FRACTION = 0.1
DEFAULT_INTERVAL_SECONDS = 60.0
# How often a School reads again the spec of a following test, at most: a new version is published at most
# hourly (a source's schedule), so a minute's delay is nothing, and the reads stay one batched request a
# minute per School. Never longer than the move's interval, so no School misses a batch boundary.
FOLLOW_REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class BehaviorChange:
    """A change of version under way: koi move from ``from_version`` to ``to_version``, a batch per interval."""

    from_version: int
    to_version: int
    started_at: datetime
    batch_fraction: float = DEFAULT_BATCH_FRACTION
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS

    def __post_init__(self) -> None:
        if not 0 < self.batch_fraction <= 1:
            raise ValueError(f"batch_fraction is in (0, 1], got {self.batch_fraction}")
        if not self.interval_seconds > 0:
            raise ValueError(f"interval_seconds is above 0, got {self.interval_seconds}")

    @property
    def batches(self) -> int:
        """How many batches the koi move in (a fraction of 0.1 is 10 batches, 0.3 is 4)."""
        return max(1, math.ceil(1 / self.batch_fraction - 1e-9))

    @property
    def seconds_to_finish(self) -> float:
        """From the start until the last batch moves."""
        return (self.batches - 1) * self.interval_seconds


def batches_moved(change: BehaviorChange, now: datetime) -> int:
    """How many batches run the new version at ``now``: 0 before the start, then one more each interval."""
    elapsed = (now - change.started_at).total_seconds()
    if elapsed < 0:
        return 0
    return min(change.batches, math.floor(elapsed / change.interval_seconds) + 1)


def batch_of(koi_index: int, change: BehaviorChange) -> int:
    """The batch koi ``koi_index`` moves with; salted by the new version so the same koi do not always go first."""
    return (koi_index + change.to_version) % change.batches


def runs_new_version(koi_index: int, change: BehaviorChange, now: datetime) -> bool:
    """Whether koi ``koi_index`` runs ``change.to_version`` at ``now`` (else ``change.from_version``).

    Args:
        koi_index: the koi's index in the test (0-based).
        change: the change under way, as the test's spec gives it.
        now: the School's clock.

    Returns:
        True once the koi's batch has moved; from then on for every later ``now``.
    """
    return batch_of(koi_index, change) < batches_moved(change, now)


def version_of_koi(koi_index: int, change: BehaviorChange | None, current_version: int, now: datetime) -> int:
    """The behavior version koi ``koi_index`` runs: the current one, or the previous one while its batch waits."""
    if change is None or runs_new_version(koi_index, change, now):
        return current_version
    return change.from_version


@dataclass(frozen=True)
class FollowedBehavior:
    """What a test following its behavior runs now: the latest version, the change onto it while under way,
    and how often a School must read this again."""

    version: int
    change: BehaviorChange | None = None
    refresh_seconds: float = FOLLOW_REFRESH_SECONDS


def follow(
    latest_version: int,
    published_at: datetime,
    started_on: int | None,
    now: datetime,
    batch_fraction: float = DEFAULT_BATCH_FRACTION,
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
) -> FollowedBehavior:
    """The version a following test runs, and the move onto it while one is under way.

    Args:
        latest_version: the behavior's latest version.
        published_at: when it was stored.
        started_on: the version the test started on (koi never ran a version older than it).
        now: the Keeper's clock.
        batch_fraction: share of the koi moved per interval.
        interval_seconds: time between batches.

    Returns:
        The latest version; with a change from the version before it while its batches are still moving,
        unless the test started on the latest version (its koi have run nothing else). The first batch moves
        one refresh after the version was published: by then every School has read the new spec, so none
        learns of the change late and moves two batches at once.
    """
    refresh = min(FOLLOW_REFRESH_SECONDS, interval_seconds)
    starts = published_at + timedelta(seconds=refresh)
    change = BehaviorChange(latest_version - 1, latest_version, starts, batch_fraction, interval_seconds)
    if started_on is None or latest_version <= started_on:
        return FollowedBehavior(latest_version, None, refresh)
    # One interval of margin after the last batch: a School whose clock runs behind still moves its last batch.
    finished = (now - starts).total_seconds() > change.seconds_to_finish + interval_seconds
    return FollowedBehavior(latest_version, None if finished else change, refresh)
