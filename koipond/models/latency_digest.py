"""Latencies in constant memory: any quantile within 1 % of the exact one, mergeable across koi and workers.

Buckets are log-linear (as in HdrHistogram and DDSketch): bucket ``i`` holds the values in
``[1 µs * 1.02**i, 1 µs * 1.02**(i+1))`` and reads as one value 0.99 % from both of its edges, so any quantile
read from it is within 1 % (relative) of the exact one; 1,113 buckets cover 1 µs to an hour. Two more buckets
hold the rest: values under 1 µs (read as the smallest value recorded, so within 1 µs), and values over an
hour (read as the largest value recorded, which is kept exactly). Count, total, min and max are exact.

Quantiles follow the nearest-rank convention: of ``n`` values sorted ascending, quantile ``q`` is the value of
rank ``k = max(1, ceil(q * n))`` (counting from 1), so ``q = 0`` is the min, ``q = 1`` the max and ``q = 0.5``
of ``[1, 2, 3, 4]`` is 2.
"""

from __future__ import annotations

import math

RELATIVE_ACCURACY = 0.01
"""Every quantile of values from 1 µs to :data:`MAX_PRECISE_SECONDS` is within this fraction of the exact one."""
SMALLEST_PRECISE_SECONDS = 1e-6
"""Values under this share one bucket, read back within this many seconds (absolute)."""
MAX_PRECISE_SECONDS = 3600.0
"""Values over this share one bucket, read back as the largest value recorded."""

# A bucket spans a ratio of 1.02 and reads as 2 * low * 1.02 / 2.02, within 0.99 % of both edges: the 0.01
# points to spare keep the 1 % promise even when math.log rounds a value on an edge into the next bucket.
_GROWTH = 1.02
_PER_LOG = 1.0 / math.log(_GROWTH)
_SCALE = 1.0 / SMALLEST_PRECISE_SECONDS
_FIRST = 1  # bucket 0 holds the values under a microsecond
_LOG_BUCKETS = math.ceil(math.log(MAX_PRECISE_SECONDS * _SCALE) * _PER_LOG) + 1
_OVERFLOW = _FIRST + _LOG_BUCKETS
_BUCKETS = _OVERFLOW + 1


def _bucket_value(index: int) -> float:
    """The value bucket ``index`` (a log bucket) reads as: 0.99 % above its low edge, 0.99 % below its high."""
    low = SMALLEST_PRECISE_SECONDS * _GROWTH ** (index - _FIRST)
    return 2.0 * low * _GROWTH / (_GROWTH + 1.0)


_VALUES = tuple(_bucket_value(index) for index in range(_BUCKETS))


class LatencyDigest:
    """Latencies in seconds (0 or more) in log-linear buckets: quantiles within 1 %, constant memory, mergeable."""

    __slots__ = ("_count", "_counts", "_max", "_min", "_total")

    def __init__(self) -> None:
        self._counts = [0] * _BUCKETS
        self._count = 0
        self._total = 0.0
        self._min = math.inf
        self._max = -math.inf

    def record(self, seconds: float) -> None:
        """Count one latency.

        Args:
            seconds: the latency; a negative one (clocks stepping back) counts as 0.

        Raises:
            ValueError: ``seconds`` is NaN or infinite (a bug upstream, never a latency).
        """
        if seconds >= SMALLEST_PRECISE_SECONDS:
            if seconds <= MAX_PRECISE_SECONDS:
                index = _FIRST + int(math.log(seconds * _SCALE) * _PER_LOG)
            elif seconds < math.inf:
                index = _OVERFLOW
            else:
                raise ValueError(f"a latency must be finite, got {seconds!r}")
        elif seconds >= 0.0:
            index = 0
        elif seconds > -math.inf:
            seconds = 0.0
            index = 0
        else:
            raise ValueError(f"a latency must be a finite number, got {seconds!r}")
        self._counts[index] += 1
        self._count += 1
        self._total += seconds
        if seconds < self._min:
            self._min = seconds
        if seconds > self._max:
            self._max = seconds

    def merge(self, other: LatencyDigest) -> None:
        """Add every latency ``other`` holds, as if each had been recorded here (``other`` is left as it is)."""
        self._counts = [mine + theirs for mine, theirs in zip(self._counts, other._counts, strict=True)]
        self._count += other._count
        self._total += other._total
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def copy(self) -> LatencyDigest:
        """An independent digest holding the same latencies."""
        twin = LatencyDigest()
        twin.merge(self)
        return twin

    @property
    def count(self) -> int:
        """How many latencies were recorded."""
        return self._count

    @property
    def total(self) -> float:
        """The sum of the latencies recorded, in seconds (the mean is ``total / count``)."""
        return self._total

    @property
    def min(self) -> float | None:
        """The smallest latency recorded, exactly; None when empty."""
        return self._min if self._count else None

    @property
    def max(self) -> float | None:
        """The largest latency recorded, exactly; None when empty."""
        return self._max if self._count else None

    def quantile(self, q: float) -> float | None:
        """The nearest-rank quantile ``q``, within 1 % (values from 1 µs to an hour); None when empty.

        Args:
            q: from 0 (the min, exactly) to 1 (the max, exactly); 0.99 is the 99th percentile.

        Returns:
            Seconds, always between :attr:`min` and :attr:`max`; None when nothing was recorded.

        Raises:
            ValueError: ``q`` is outside ``[0, 1]``.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"a quantile is from 0 to 1, got {q!r}")
        if not self._count:
            return None
        rank = max(1, math.ceil(q * self._count))
        if rank == 1:
            return self._min
        if rank == self._count:
            return self._max
        return min(max(self._value_of_rank(rank), self._min), self._max)

    def _value_of_rank(self, rank: int) -> float:
        """The value the bucket holding the ``rank``-th smallest latency reads as (before clamping)."""
        seen = 0
        for index, count in enumerate(self._counts):
            seen += count
            if seen >= rank:
                if index == 0:
                    return self._min
                return self._max if index == _OVERFLOW else _VALUES[index]
        return self._max

    def __repr__(self) -> str:
        return f"LatencyDigest(count={self._count}, p50={self.quantile(0.5)}, max={self.max})"
