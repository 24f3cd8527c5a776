"""One ``/metrics`` for a School of several processes: expositions merged, identical series summed (pure).

Every series a School exports is a count or a level over its koi (calls, websockets, koi per test,
histogram buckets), so the School's value is the sum of its processes' values; only a ``*_created``
timestamp is not, and the earliest is kept. Label sets stay those of one process, so merging adds no
cardinality.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

_SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
# What survives a process that died: its counts so far (its levels, such as open websockets, went with it).
_CUMULATIVE = frozenset({"counter", "histogram", "summary"})


def parse(text: str) -> list[Metric]:
    return list(text_string_to_metric_families(text))


def merge(expositions: Iterable[Sequence[Metric]]) -> list[Metric]:
    """The families of every exposition, a series present in several summed (``*_created``: the earliest)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[_SeriesKey, float]] = {}
    for exposition in expositions:
        for family in exposition:
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                values[family.name] = {}
            series = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                seen = series.get(key)
                if seen is None:
                    series[key] = sample.value
                elif family.name.endswith("_created"):
                    series[key] = min(seen, sample.value)
                else:
                    series[key] = seen + sample.value
    for name, family in families.items():
        family.samples = [Sample(sample, dict(labels), value) for (sample, labels), value in values[name].items()]
    return list(families.values())


def cumulative(families: Sequence[Metric]) -> list[Metric]:
    """Only the counts of ``families`` (counters, histograms, summaries): what a dead process leaves behind."""
    return [f for f in families if f.type in _CUMULATIVE]


def render(families: Sequence[Metric]) -> bytes:
    """The Prometheus text exposition of ``families``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return generate_latest(registry)


class _Fixed:
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Sequence[Metric]:
        return self._families
