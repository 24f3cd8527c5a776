"""What one ``koipond run`` measured so far: calls, failures and latencies per action, websockets, the runner's lag.

A :class:`RunStats` is a snapshot: the engine builds one from its digests and counters whenever it reports
(the live view, the summary, the thresholds), and nothing here reads a clock or a socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from koipond.metric_names import OK_STATUS
from koipond.models.latency_digest import LatencyDigest

PERCENTILES: Mapping[str, float] = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
"""A summary's percentile names and the quantile each stands for."""
SUMMARY_FIGURES = (*PERCENTILES, "max", "avg", "mean")
"""Every name :meth:`LatencySummary.percentile` reads (``avg`` and ``mean`` are the same figure)."""


@dataclass(frozen=True)
class LatencySummary:
    """A digest's headline figures, in seconds; every figure is None when nothing was recorded."""

    count: int
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None

    @classmethod
    def of(cls, digest: LatencyDigest) -> LatencySummary:
        """The figures of ``digest`` as it is now (later records do not change them)."""
        count = digest.count
        return cls(
            count=count,
            p50=digest.quantile(0.5),
            p90=digest.quantile(0.9),
            p95=digest.quantile(0.95),
            p99=digest.quantile(0.99),
            max=digest.max,
            mean=digest.total / count if count else None,
        )

    @classmethod
    def empty(cls) -> LatencySummary:
        """The summary of nothing recorded."""
        return cls.of(LatencyDigest())

    def percentile(self, name: str) -> float | None:
        """One figure by name.

        Args:
            name: ``p50``, ``p90``, ``p95``, ``p99``, ``max``, ``avg`` or ``mean``.

        Returns:
            Seconds, or None when nothing was recorded.

        Raises:
            ValueError: ``name`` is none of those.
        """
        if name in PERCENTILES or name == "max":
            value: float | None = getattr(self, name)
            return value
        if name in ("avg", "mean"):
            return self.mean
        raise ValueError(f"no latency figure {name!r}; known: {', '.join(SUMMARY_FIGURES)}")


@dataclass(frozen=True)
class ActionStats:
    """One action's calls (or all actions' together): how many, how they ended, how long they took."""

    requests: int
    """Calls made, whatever their status."""
    failures: int
    """Calls whose status is not ``ok``."""
    statuses: Mapping[str, int]
    """Status label (``koipond.metric_names.CALL_STATUSES``) -> calls."""
    latency: LatencySummary
    """From each call's scheduled time to its answer, so a runner falling behind shows as latency."""
    skipped: int = 0
    """Actions skipped, e.g. a reaction with nothing to react to."""

    @classmethod
    def of(cls, statuses: Mapping[str, int], latency: LatencyDigest, skipped: int = 0) -> ActionStats:
        """Stats counting every status as a request and every status but ``ok`` as a failure."""
        requests = sum(statuses.values())
        return cls(
            requests=requests,
            failures=requests - statuses.get(OK_STATUS, 0),
            statuses=dict(statuses),
            latency=LatencySummary.of(latency),
            skipped=skipped,
        )

    @classmethod
    def empty(cls) -> ActionStats:
        """No calls at all."""
        return cls(requests=0, failures=0, statuses={}, latency=LatencySummary.empty())

    @property
    def success_rate(self) -> float | None:
        """The fraction of calls that succeeded; None when no call was made."""
        if not self.requests:
            return None
        return (self.requests - self.failures) / self.requests

    @property
    def error_rate(self) -> float | None:
        """The fraction of calls that failed; None when no call was made."""
        if not self.requests:
            return None
        return self.failures / self.requests


@dataclass(frozen=True)
class RunStats:
    """A snapshot of one run: per-action and total call stats, websockets, and how late the runner started actions."""

    elapsed_seconds: float
    koi: int
    """Koi swimming at the moment of the snapshot."""
    actions: Mapping[str, ActionStats]
    """By action label (the metric label of the action)."""
    total: ActionStats
    """All actions together; its latency is over every call."""
    ws_connects: int = 0
    ws_connect_failures: int = 0
    ws_disconnects: int = 0
    ws_open: int = 0
    ws_events: int = 0
    ws_lag: LatencySummary = field(default_factory=LatencySummary.empty)
    """Websocket message lag: a koi's send to another koi's receipt."""
    schedule_lag: LatencySummary = field(default_factory=LatencySummary.empty)
    """How late actions started: the runner's own overload, not the target's."""

    def requests(self, action: str | None = None) -> int:
        """Calls made by ``action`` (0 for an action with no stats), or by every action when None."""
        if action is None:
            return self.total.requests
        stats = self.actions.get(action)
        return stats.requests if stats is not None else 0

    def rate(self, action: str | None = None) -> float:
        """Requests per second over the whole run, of ``action`` or of all; 0 when no time has passed."""
        if self.elapsed_seconds <= 0:
            return 0.0
        return self.requests(action) / self.elapsed_seconds


def requests_per_second(before: RunStats, after: RunStats, action: str | None = None) -> float:
    """Requests per second between two snapshots of the same run (the live view's last second).

    Args:
        before: the earlier snapshot.
        after: the later snapshot.
        action: one action's label, or None for all actions.

    Returns:
        The requests made between the snapshots over the time between them; 0 when no time passed.
    """
    seconds = after.elapsed_seconds - before.elapsed_seconds
    if seconds <= 0:
        return 0.0
    return (after.requests(action) - before.requests(action)) / seconds
