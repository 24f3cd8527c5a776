"""Counters and histograms without a lock, exported exactly as prometheus_client's own would be.

prometheus_client takes a ``threading.Lock`` on every ``inc`` and ``observe`` and walks a histogram's
buckets in Python; a School counts two histograms and a counter or two on every call, thousands of
times a second, all from its one event-loop thread. These families keep plain floats instead and find
a bucket with ``bisect``. What a scrape sees is the same: names, HELP, types, label names, samples
(``_total``, ``_bucket``/``_count``/``_sum``, ``_created``) and their order are prometheus_client's
(tests/unit/test_lockfree_metrics.py compares the two expositions).

Not thread-safe, by design: only the thread of the School's event loop may count. A scrape reads
from the loop too (the ``/metrics`` handler), and a scrape from another thread may at worst see a
sum that is one observation ahead of its count.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, metrics
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString


def _created_series() -> bool:
    # prometheus_client's own switch (PROMETHEUS_DISABLE_CREATED_SERIES, disable_created_metrics()).
    return bool(getattr(metrics, "_use_created", True))


class CounterChild:
    """One labelled series of a :class:`LockFreeCounter`."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (not negative: counters only go up)."""
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.value += amount


class HistogramChild:
    """One labelled series of a :class:`LockFreeHistogram`: a count per bucket and a sum."""

    __slots__ = ("_bounds", "counts", "created", "sum")

    def __init__(self, bounds: list[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative; the last bound is +Inf
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        """Count ``amount`` in the first bucket whose bound is at least ``amount``."""
        self.sum += amount
        if amount == amount:  # NaN lands in no bucket, as in prometheus_client
            self.counts[bisect_left(self._bounds, amount)] += 1


ChildT = TypeVar("ChildT", CounterChild, HistogramChild)


class _Family(Generic[ChildT]):
    """Label children by value tuple, registered in a registry as a custom collector."""

    _type = ""

    def __init__(
        self, name: str, documentation: str, labelnames: Iterable[str], registry: CollectorRegistry | None
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], ChildT] = {}
        if not self._labelnames:
            self._children[()] = self._new_child()
        if registry is not None:
            registry.register(self)  # type: ignore[arg-type]  # a collector by shape (collect, describe)

    def _new_child(self) -> ChildT:
        raise NotImplementedError

    def labels(self, *labelvalues: object) -> ChildT:
        """The series of ``labelvalues``, created empty on first use (as prometheus_client's ``labels``)."""
        if not self._labelnames:
            raise ValueError(f"No label names were set when constructing {self._type}:{self._name}")
        if len(labelvalues) != len(self._labelnames):
            raise ValueError(f"Incorrect label count: expected {len(self._labelnames)}, got {labelvalues}")
        key = tuple(str(v) for v in labelvalues)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def _unlabelled(self) -> ChildT:
        child = self._children.get(())
        if child is None:
            raise ValueError(f"{self._type} metric {self._name} is missing label values")
        return child

    def remove(self, *labelvalues: object) -> None:
        """Drop the series of ``labelvalues``, as prometheus_client's ``remove``."""
        if len(labelvalues) != len(self._labelnames):
            raise ValueError(f"Incorrect label count: expected {len(self._labelnames)}, got {labelvalues}")
        self._children.pop(tuple(str(v) for v in labelvalues), None)

    def describe(self) -> list[Metric]:
        return [Metric(self._name, self._documentation, self._type)]

    def _labels(self, key: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(self._labelnames, key, strict=True))


class LockFreeCounter(_Family[CounterChild]):
    """A counter family with prometheus_client's ``Counter`` samples; ``name`` without ``_total``."""

    _type = "counter"

    def __init__(
        self, name: str, documentation: str, labelnames: Iterable[str] = (), registry: CollectorRegistry | None = None
    ) -> None:
        super().__init__(name.removesuffix("_total"), documentation, labelnames, registry)

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def inc(self, amount: float = 1.0) -> None:
        """Add to an unlabelled counter."""
        self._unlabelled().inc(amount)

    def collect(self) -> list[Metric]:
        metric = Metric(self._name, self._documentation, self._type)
        created = _created_series()
        for key, child in list(self._children.items()):
            labels = self._labels(key)
            metric.add_sample(self._name + "_total", labels, child.value)
            if created:
                metric.add_sample(self._name + "_created", dict(labels), child.created)
        return [metric]


class LockFreeHistogram(_Family[HistogramChild]):
    """A histogram family with prometheus_client's ``Histogram`` samples and bucket bounds."""

    _type = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
        buckets: Sequence[float] = metrics.Histogram.DEFAULT_BUCKETS,
    ) -> None:
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds):
            raise ValueError("Buckets not in sorted order")
        if bounds and bounds[-1] != math.inf:
            bounds.append(math.inf)
        if len(bounds) < 2:
            raise ValueError("Must have at least two buckets")
        self._bounds = bounds
        self._bound_labels = [floatToGoString(b) for b in bounds]  # type: ignore[no-untyped-call]
        super().__init__(name, documentation, labelnames, registry)
        self._single = self._children.get(())  # an unlabelled histogram's one series, without a lookup

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self._bounds)

    def observe(self, amount: float) -> None:
        """Observe into an unlabelled histogram."""
        (self._single or self._unlabelled()).observe(amount)

    def collect(self) -> list[Metric]:
        metric = Metric(self._name, self._documentation, self._type)
        created = _created_series()
        for key, child in list(self._children.items()):
            labels = self._labels(key)
            cumulative = 0.0
            for bound, count in zip(self._bound_labels, child.counts, strict=True):
                cumulative += count
                metric.add_sample(self._name + "_bucket", {**labels, "le": bound}, cumulative)
            metric.add_sample(self._name + "_count", dict(labels), cumulative)
            if self._bounds[0] >= 0:
                metric.add_sample(self._name + "_sum", dict(labels), child.sum)
            if created:
                metric.add_sample(self._name + "_created", dict(labels), child.created)
        return [metric]
