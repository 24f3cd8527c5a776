"""Behavior scheduling, pure: when each koi performs which action, in steady state and in formations.

Nothing here reads a clock, does I/O or touches the global ``random``: times are plain floats (Unix
seconds) passed in, randomness comes from a seeded ``random.Random`` or from a stable hash. The
School turns these schedules into calls and measures latency from ``ScheduledAction.at``, so a slow
target never delays the schedule (no coordinated omission).

Determinism is what lets Schools agree without talking: which koi take part in a formation run,
which koi a ``share`` step selects, and when each participant acts are functions of the seed parts
(e.g. the test id), the formation name, its firing time and the koi index. A koi moved to another
School mid-run therefore gets the same plan there.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from koipond.models.behavior import BehaviorDocument, Formation, FormationStep, KoiShare

SeedPart = str | int
"""One part of a stable seed: the test id, a koi index, a name."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_PER_HOUR = 3600.0
_MICROSECONDS = 1_000_000
_PERSON = b"koipond-sched-1"  # blake2b personalisation: bump it and every schedule changes


@dataclass(frozen=True, slots=True)
class ScheduledAction:
    """One call a koi is due to make: ``action`` at Unix time ``at``, from a formation step or not."""

    at: float
    action: str
    formation: str | None = None
    step: str | None = None


# --- stable randomness ---------------------------------------------------------------------------


def _digest(parts: Sequence[SeedPart]) -> bytes:
    # Python's hash() is salted per process; Schools need the same value everywhere, every time.
    digest = hashlib.blake2b(digest_size=16, person=_PERSON)
    for part in parts:
        data = str(part).encode()
        # Type tag and length prefix keep ("ab", "c") and ("a", "bc"), or 1 and "1", apart.
        digest.update((b"i" if isinstance(part, int) else b"s") + len(data).to_bytes(4, "big") + data)
    return digest.digest()


def _seed(*parts: SeedPart) -> int:
    return int.from_bytes(_digest(parts), "big")


def _unit_hash(*parts: SeedPart) -> float:
    """A uniform value in [0, 1) determined by ``parts`` alone."""
    return (int.from_bytes(_digest(parts)[:8], "big") >> 11) / float(1 << 53)


def _fire_key(fire_at: float) -> int:
    # Whole microseconds: the firing time as every School computes it, immune to float noise.
    return round(fire_at * _MICROSECONDS)


def koi_rng(test_id: str, koi_index: int, salt: str = "") -> random.Random:
    """A random generator private to one koi, the same on every School and after every restart.

    Args:
        test_id: the test the koi swims in.
        koi_index: the koi's 0-based index in the test.
        salt: separates independent streams of one koi (e.g. ``"steady"``, ``"channels"``).

    Returns:
        A ``random.Random`` seeded from a blake2b hash of the arguments.
    """
    return random.Random(_seed("koi", test_id, koi_index, salt))  # noqa: S311 - load shape, not secrets


def startup_delay(rng: random.Random, spread_seconds: float) -> float:
    """A uniform delay in ``[0, spread_seconds)`` so that thousands of koi don't connect at once.

    Steady-state actions need no such delay (a Poisson process started at any moment is already
    in its stationary phase); it is for the websocket connect and the first ``auth.test`` of a koi.

    Args:
        rng: the koi's generator (see ``koi_rng``).
        spread_seconds: width of the start-up window; ``0`` means no delay.

    Returns:
        Seconds to wait before the koi starts.

    Raises:
        ValueError: ``spread_seconds`` is negative or not finite.
    """
    if not math.isfinite(spread_seconds) or spread_seconds < 0:
        raise ValueError(f"spread_seconds must be a finite number >= 0, got {spread_seconds!r}")
    delay = rng.random() * spread_seconds
    # Rounding can reach the bound itself for tiny (subnormal) spreads; the window stays half-open.
    return delay if delay < spread_seconds else 0.0


# --- steady state --------------------------------------------------------------------------------


class SteadySchedule:
    """A koi's steady-state actions as one merged Poisson process.

    The superposition of independent Poisson processes is a Poisson process at the summed rate in
    which each event is action *i* with probability ``rate_i / total``; so one exponential gap and
    one weighted choice per event replace a timer per action. Actions with a zero effective rate
    (formation-only actions, or ``weight: 0``) never appear.
    """

    # One per koi, 20,000 to a School: slots keep each to its few references.
    __slots__ = ("_cumulative", "_names", "_rng", "rate_per_second")

    def __init__(self, document: BehaviorDocument, rng: random.Random) -> None:
        """Build the schedule of one koi.

        Args:
            document: the behavior; rates are ``Action.effective_rate_per_hour``.
            rng: the koi's generator (see ``koi_rng``); the schedule draws only from it.
        """
        active = [
            (name, action.effective_rate_per_hour / _SECONDS_PER_HOUR)
            for name, action in document.actions.items()
            if action.effective_rate_per_hour > 0
        ]
        self._rng = rng
        self._names = tuple(name for name, _ in active)
        self._cumulative = tuple(accumulate(rate for _, rate in active))
        self.rate_per_second: float = self._cumulative[-1] if self._cumulative else 0.0
        # Total steady-state calls per second of this koi.

    def next_after(self, t: float) -> ScheduledAction | None:
        """The koi's next steady-state action strictly after ``t``.

        Call it again with the returned ``at`` for the one after: the process is memoryless, so
        the schedule never depends on when (or whether) earlier calls completed.

        Args:
            t: a time in seconds (any epoch; the School uses Unix seconds).

        Returns:
            The next action, or None when every action's rate is 0.
        """
        if not self._names:
            return None
        gap = self._rng.expovariate(self.rate_per_second)
        # A gap below the float resolution of a Unix timestamp must still move time forward.
        at = max(t + gap, math.nextafter(t, math.inf))
        action = self._rng.choices(self._names, cum_weights=self._cumulative)[0]
        return ScheduledAction(at=at, action=action)

    def first_after(self, start: float) -> ScheduledAction | None:
        """The first action of a koi that starts swimming at ``start``.

        A Poisson process has no phase to randomise: by memorylessness the first event after any
        start is distributed as every later gap, so koi started together still spread out.
        """
        return self.next_after(start)


# --- formations ----------------------------------------------------------------------------------


def next_firing(formation: Formation, after: float) -> float | None:
    """When ``formation`` next fires strictly after Unix time ``after``.

    Args:
        formation: the formation.
        after: Unix seconds.

    Returns:
        Unix seconds of the next firing, or None once a one-off ``at`` start has passed.
    """
    # Floor to whole microseconds (datetime's resolution), so the result is still strictly after.
    moment = _EPOCH + timedelta(microseconds=math.floor(after * _MICROSECONDS))
    fire = formation.start.next_after(moment)
    return None if fire is None else (fire - _EPOCH).total_seconds()


def step_windows(formation: Formation) -> dict[str, tuple[float, float]]:
    """Each step's window as ``(begin, end)`` seconds after a participant's start.

    A step begins when the window of its ``after`` step (by default the previous step) ends; the
    first step begins at 0. A participant's start is the firing time plus its spread offset.
    """
    windows: dict[str, tuple[float, float]] = {}
    previous_end = 0.0
    for step in formation.steps:
        begin = windows[step.after][1] if step.after is not None else previous_end
        previous_end = begin + step.within_seconds
        windows[step.name] = (begin, previous_end)
    return windows


def takes_part(
    formation_name: str, formation: Formation, koi_index: int, rng_seed_parts: Sequence[SeedPart], fire_at: float
) -> bool:
    """Whether koi ``koi_index`` takes part in the run of ``formation`` fired at ``fire_at``.

    Koi 0 always does (a ``first`` step needs its admin); any other koi with probability
    ``formation.share``, decided by a stable hash so every School agrees.
    """
    if koi_index == 0:
        return True
    key = _unit_hash("takes_part", *rng_seed_parts, formation_name, _fire_key(fire_at), koi_index)
    return key < formation.share


def _selected(
    step: FormationStep, formation_name: str, koi_index: int, rng_seed_parts: Sequence[SeedPart], fire_key: int
) -> bool:
    if isinstance(step.koi, KoiShare):
        key = _unit_hash("step", *rng_seed_parts, formation_name, fire_key, step.name, koi_index)
        return key < step.koi.share
    return step.koi == "all" or koi_index == 0


def formation_plan(
    formation_name: str,
    formation: Formation,
    koi_index: int,
    rng_seed_parts: Sequence[SeedPart],
    fire_at: float,
) -> list[ScheduledAction]:
    """The calls koi ``koi_index`` makes in one run of a formation.

    Args:
        formation_name: the formation's key in the behavior.
        formation: the formation.
        koi_index: the koi's 0-based index in the test; 0 is the admin.
        rng_seed_parts: what makes runs of different tests differ, identical on every School
            running the test (e.g. ``(test_id,)``).
        fire_at: the firing time, Unix seconds (see ``next_firing``).

    Returns:
        The koi's actions sorted by time (steps in script order on ties); empty if it sits this run out.
        Its spread offset is uniform in ``[0, spread_seconds)`` and shifts its whole timeline; each
        selected step contributes ``repeat`` calls, each uniform in the step's window.
    """
    if not takes_part(formation_name, formation, koi_index, rng_seed_parts, fire_at):
        return []
    fire_key = _fire_key(fire_at)
    rng = random.Random(_seed("plan", *rng_seed_parts, formation_name, fire_key, koi_index))  # noqa: S311
    start = fire_at + rng.random() * formation.spread_seconds
    windows = step_windows(formation)
    plan: list[ScheduledAction] = []
    for step in formation.steps:
        if not _selected(step, formation_name, koi_index, rng_seed_parts, fire_key):
            continue
        begin = start + windows[step.name][0]
        plan.extend(
            ScheduledAction(
                at=begin + rng.random() * step.within_seconds,
                action=step.action,
                formation=formation_name,
                step=step.name,
            )
            for _ in range(step.repeat)
        )
    plan.sort(key=lambda scheduled: scheduled.at)
    return plan
