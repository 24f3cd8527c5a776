"""What ``koipond run`` measures: a School's own metrics, which also keep counts and latency digests per action.

Koi record into a :class:`~school_container.metrics.SchoolMetrics` as in a School (so ``--metrics-port``
serves exactly a School's exposition); :class:`RunMetrics` keeps, beside it, what the run's summary and
thresholds need that a Prometheus histogram cannot give: exact counts per action and quantiles within 1 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from koipond import metric_names as mn
from koipond.models.behavior import BehaviorDocument
from koipond.models.latency_digest import LatencyDigest
from koipond.models.run_stats import ActionStats, LatencySummary, RunStats
from school_container.koi import JOIN_LABEL
from school_container.metrics import SchoolMetrics
from school_container.prepared import prepare_actions


class _Teed:
    """A histogram whose every observation also lands in a digest (koi call ``observe`` on it)."""

    __slots__ = ("_digest", "_histogram")

    def __init__(self, histogram: Any, digest: LatencyDigest) -> None:
        self._histogram = histogram
        self._digest = digest

    def observe(self, amount: float) -> None:
        self._histogram.observe(amount)
        self._digest.record(amount)

    def __getattr__(self, name: str) -> Any:  # labels(), collect()...: the histogram's own
        return getattr(self._histogram, name)


class RunMetrics(SchoolMetrics):
    """A School's metrics that also keep, per action label, counts by status and a latency digest.

    Args:
        labels: action labels to show from the start (with no calls yet).
    """

    def __init__(self, labels: Iterable[str] = ()) -> None:
        super().__init__()
        self._statuses: dict[str, dict[str, int]] = {}
        self._latency: dict[str, LatencyDigest] = {}
        self._all_latency = LatencyDigest()
        self.ws_lag_digest = LatencyDigest()
        self.schedule_lag_digest = LatencyDigest()
        self.ws_lag = _Teed(self.ws_lag, self.ws_lag_digest)
        self.schedule_lag = _Teed(self.schedule_lag, self.schedule_lag_digest)
        for label in labels:
            self._series(label)

    def _series(self, label: str) -> tuple[dict[str, int], LatencyDigest]:
        statuses = self._statuses.get(label)
        if statuses is None:
            statuses = self._statuses[label] = {}
            self._latency[label] = LatencyDigest()
        return statuses, self._latency[label]

    def record_call(self, method: str, status: str, seconds: float) -> None:
        super().record_call(method, status, seconds)
        statuses, digest = self._series(self.method_label(method))
        statuses[status] = statuses.get(status, 0) + 1
        digest.record(seconds)
        self._all_latency.record(seconds)

    def snapshot(self, elapsed_seconds: float, koi: int) -> RunStats:
        """Everything measured so far, as of ``elapsed_seconds`` into the run with ``koi`` swimming."""
        skipped = _by_label(self.skipped, mn.SCHOOL_ACTIONS_SKIPPED + "_total", mn.METHOD_LABEL)
        actions = {
            label: _action_stats(self._statuses[label], self._latency[label], int(skipped.get(label, 0)))
            for label in sorted(self._statuses)
        }
        totals: dict[str, int] = {}
        for statuses in self._statuses.values():
            for status, count in statuses.items():
                totals[status] = totals.get(status, 0) + count
        return RunStats(
            elapsed_seconds=elapsed_seconds,
            koi=koi,
            actions=actions,
            total=_action_stats(totals, self._all_latency, int(sum(skipped.values()))),
            ws_connects=int(_sample_sum(self.ws_connects, mn.SCHOOL_WEBSOCKET_CONNECTS_TOTAL)),
            ws_connect_failures=int(_sample_sum(self.ws_connect_failures, mn.SCHOOL_WEBSOCKET_CONNECT_FAILURES_TOTAL)),
            ws_disconnects=int(_sample_sum(self.ws_disconnects, mn.SCHOOL_WEBSOCKET_DISCONNECTS_TOTAL)),
            ws_open=int(_sample_sum(self.ws_connections, mn.SCHOOL_WEBSOCKET_CONNECTIONS)),
            ws_events=int(_sample_sum(self.ws_events, mn.SCHOOL_WEBSOCKET_EVENTS_TOTAL)),
            ws_lag=LatencySummary.of(self.ws_lag_digest),
            schedule_lag=LatencySummary.of(self.schedule_lag_digest),
        )


def _action_stats(statuses: Mapping[str, int], digest: LatencyDigest, skipped: int) -> ActionStats:
    return ActionStats.of(dict(sorted(statuses.items())), digest, skipped)


def _samples(family: Any, name: str) -> Iterator[Any]:
    for metric in family.collect():
        for sample in metric.samples:
            if sample.name == name:
                yield sample


def _sample_sum(family: Any, name: str) -> float:
    """The sum of ``family``'s samples named ``name`` (a counter's ``_total``, a gauge's own name)."""
    return float(sum(sample.value for sample in _samples(family, name)))


def _by_label(family: Any, name: str, label: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for sample in _samples(family, name):
        key = sample.labels.get(label, "")
        values[key] = values.get(key, 0.0) + sample.value
    return values


def action_labels(behavior: BehaviorDocument) -> list[str]:
    """The labels a run's calls are counted under: the join every koi makes first, then each action's."""
    labels = [JOIN_LABEL]
    labels.extend(p.label for p in prepare_actions(behavior).values() if p.label not in labels)
    return labels
