"""What a School's poller tells its koi hosts, pure: each test's koi and what they run, and each host's share.

A School with one worker hosts its koi in its own process; with N workers, worker ``w`` hosts the koi
whose index ``i`` has ``i % N == w``. A koi's worker depends on its index alone, so a scale, a shed or a
move of other koi never moves it from one worker to another (which would restart it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from koipond.api.poll import LoadTestSpec, PollRange
from koipond.models.behavior import BehaviorDocument
from koipond.services.behavior_moves import version_of_koi

Range = tuple[int, int]  # half-open [start, end) of koi indexes


@dataclass(frozen=True)
class Slot:
    """Worker ``worker`` of ``workers``: the koi hosts of one School."""

    worker: int
    workers: int

    def __post_init__(self) -> None:
        if not 0 <= self.worker < self.workers:
            raise ValueError(f"worker {self.worker} is not one of {self.workers}")


SOLE = Slot(0, 1)  # a School that hosts every koi in its own process


@dataclass(frozen=True)
class KoiOrder:
    """One test's koi on this School and what they run.

    ``spec`` and ``behavior`` are None when the poller could not read them now: the host keeps what it
    runs of the test and starts none of it (never stop koi for a failed read; the next poll tries again).
    ``previous`` is the document of the version a following test's koi are moving from (the spec's
    ``behavior_change``), None when no move is under way or it could not be read (then every koi runs
    ``behavior``).
    """

    test_id: str
    ranges: tuple[Range, ...]
    spec: LoadTestSpec | None = None
    behavior: BehaviorDocument | None = None
    previous: BehaviorDocument | None = None

    @property
    def runnable(self) -> bool:
        return self.spec is not None and self.behavior is not None

    def identity(self, version: int) -> tuple[str, ...]:
        """Behavior name+version, target, workspace: what a koi is built from (a change restarts the koi)."""
        if self.spec is None:
            raise ValueError(f"the spec of {self.test_id} is unknown")
        return (self.spec.behavior.name, str(version), self.spec.target, self.spec.workspace)

    def lanes(self, koi: frozenset[int], now: datetime) -> list[Lane]:
        """``koi`` split by the behavior version each runs at ``now``: one lane, or two while a move is under way.

        A koi's version comes from :func:`koipond.services.behavior_moves.version_of_koi` alone, so every
        host (and every School) moves the same koi in the same batch, and a moved koi never moves back.
        """
        if self.spec is None or self.behavior is None:
            raise ValueError(f"the spec of {self.test_id} is unknown")
        current = self.spec.behavior.version or 0  # None (the latest, read once) is one lane of its own
        change = self.spec.behavior_change
        if change is None or self.previous is None or change.to_version != current:
            return [Lane(current, koi, self.behavior)]
        move = change.domain()
        moved = frozenset(i for i in koi if version_of_koi(i, move, current, now) == current)
        lanes = [Lane(current, moved, self.behavior), Lane(move.from_version, koi - moved, self.previous)]
        return [lane for lane in lanes if lane.koi]


@dataclass(frozen=True)
class Lane:
    """Koi of one test that run one behavior version."""

    version: int
    koi: frozenset[int]
    behavior: BehaviorDocument


def ranges_of(ranges: Iterable[PollRange]) -> tuple[Range, ...]:
    return tuple((r.start, r.end) for r in ranges)


def share_of(ranges: Iterable[Range], slot: Slot) -> frozenset[int]:
    """The koi of ``ranges`` that the host in ``slot`` runs: those whose index % workers is its number."""
    n, w = slot.workers, slot.worker
    return frozenset(i for start, end in ranges for i in range(start + (w - start) % n, end, n))


def share_sizes(ranges: Iterable[Range], workers: int) -> list[int]:
    """How many koi of ``ranges`` each of ``workers`` hosts, without listing them."""
    sizes = [0] * workers
    for start, end in ranges:
        for w in range(workers):
            first = start + (w - start) % workers
            sizes[w] += max(0, (end - first + workers - 1) // workers)
    return sizes


def summed(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Koi per test over several hosts (a test a host does not run counts 0 there)."""
    total: dict[str, int] = {}
    for one in counts:
        for test_id, n in one.items():
            total[test_id] = total.get(test_id, 0) + n
    return total


# --- on the wire between a School's supervisor and its workers (JSON) ------------------------------------


def orders_to_wire(orders: Sequence[KoiOrder]) -> list[dict[str, Any]]:
    return [
        {
            "test_id": o.test_id,
            "ranges": [list(r) for r in o.ranges],
            "spec": o.spec.model_dump(mode="json") if o.spec is not None else None,
            "behavior": o.behavior.model_dump(mode="json") if o.behavior is not None else None,
            "previous": o.previous.model_dump(mode="json") if o.previous is not None else None,
        }
        for o in orders
    ]


def orders_from_wire(data: Sequence[Mapping[str, Any]]) -> tuple[KoiOrder, ...]:
    return tuple(
        KoiOrder(
            test_id=str(o["test_id"]),
            ranges=tuple((int(start), int(end)) for start, end in o["ranges"]),
            spec=LoadTestSpec.model_validate(o["spec"]) if o["spec"] is not None else None,
            behavior=BehaviorDocument.model_validate(o["behavior"]) if o["behavior"] is not None else None,
            previous=BehaviorDocument.model_validate(o["previous"]) if o.get("previous") is not None else None,
        )
        for o in data
    )
