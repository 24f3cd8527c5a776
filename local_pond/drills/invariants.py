"""The soak's allocation invariants, pure: each sample of the pond in, checks and violations out.

Grace is counted in the Schools' own successful polls where a School must act (a poll is the only way
it learns anything), and in time only where the Keeper's allocator must act; neither is a tight timer:

- A School's koi must equal its stored assignment, per test, once the School completed two successful
  polls after a difference was first seen (the poll that read the change may have been in flight when
  it was sampled; the next one is certainly after it). Three for too few koi, whose start also reads
  the test's spec from the Keeper, and none while starting may fail for a reason of the drill's making
  (the Keeper or the embedded AWS away, the emergency stop pulled).
- The allocation stored for a test must never hold a koi index for two Schools (no grace at all), and
  must hold no more koi than the test asks for within ``allocator_grace`` seconds (a restarted Keeper
  waits out its predecessor's lease, then makes a pass), counted from when the Keeper was back.
- The koi running for a test on all live Schools together must not exceed what it asks for, once the
  stored allocation is within the demand and every School running the test has polled twice since.
  A koi index running on two Schools, or past the demand, makes the sum exceed it: that is how a
  double run is seen from what Schools expose (their koi counts per test, not indexes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from local_pond.drills.findings import Findings
from local_pond.drills.probes import SchoolView, StoredAllocation, overlaps

ALLOCATION_DISJOINT = "allocation disjoint"
ASSIGNMENT_WITHIN_DEMAND = "allocation within demand"
SCHOOL_MATCHES_ASSIGNMENT = "School koi = its assignment"
KOI_WITHIN_DEMAND = "koi running <= demand"
EXCESS_POLLS = 2
K = TypeVar("K")
SHORTFALL_POLLS = 3


@dataclass(frozen=True)
class Timing:
    """The pond's own settings; every grace below is derived from them."""

    poll_interval: float
    allocator_period: float
    allocator_lease: float
    sample_period: float

    @property
    def allocator_grace(self) -> float:
        return self.allocator_lease + 2 * self.allocator_period + self.poll_interval + self.sample_period

    @property
    def estop_bound(self) -> float:
        """The promise under test: the stop reaches every live School within one poll interval + 1 s."""
        return self.poll_interval + 1.0


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic() when the sample began
    demand: dict[str, int]  # every test's active koi (0 unless running), from the Keeper's API
    schools: dict[str, SchoolView]  # the Schools that answered (killed ones do not)
    allocation: StoredAllocation
    excused: bool  # starting koi may fail now for a reason of the drill's making
    keeper_back_at: float  # time.monotonic() when the Keeper and the embedded AWS last came back


@dataclass
class _Episode:
    expected: int  # what the koi count should be; an episode starts again when this changes
    since: float
    polls: dict[str, int] = field(default_factory=dict)  # School -> its successful polls at the baseline
    reported: bool = False


class AllocationInvariants:
    """Keeps the open episodes of the checks above between samples."""

    def __init__(self, timing: Timing, findings: Findings) -> None:
        self._timing = timing
        self._findings = findings
        self._schools: dict[tuple[str, str], _Episode] = {}
        self._stored: dict[str, _Episode] = {}
        self._running: dict[str, _Episode] = {}

    def observe(self, sample: Sample) -> None:
        self._disjoint(sample)
        self._stored_within_demand(sample)
        self._schools_match(sample)
        self._running_within_demand(sample)

    def _disjoint(self, sample: Sample) -> None:
        for test in sorted(sample.allocation.tests()):
            by_school = {s: tests[test] for s, tests in sample.allocation.by_school.items() if test in tests}
            found = overlaps(by_school)
            detail = f"test {test}: koi {found[:3]} stored for two Schools" if found else ""
            self._findings.check(ALLOCATION_DISJOINT, not found, detail)

    def _stored_within_demand(self, sample: Sample) -> None:
        for test in sorted(set(sample.demand) | sample.allocation.tests()):
            stored = sum(sample.allocation.koi(s, test) for s in sample.allocation.by_school)
            demand = sample.demand.get(test, 0)
            episode = _follow(self._stored, test, demand, stored > demand, sample.at)
            if episode is None:
                self._findings.check(ASSIGNMENT_WITHIN_DEMAND, True)
                continue
            late = sample.at - max(episode.since, sample.keeper_back_at) > self._timing.allocator_grace
            detail = f"test {test}: {stored} koi stored for {demand} asked, for {sample.at - episode.since:.1f}s"
            self._report(ASSIGNMENT_WITHIN_DEMAND, episode, late, detail)

    def _schools_match(self, sample: Sample) -> None:
        seen = set()
        for school, view in sorted(sample.schools.items()):
            for test in sorted(set(view.koi) | set(sample.allocation.by_school.get(school, {}))):
                seen.add((school, test))
                self._school_matches(sample, school, view, test)
        # Neither running nor assigned any more (the difference is gone), or the School was killed (its koi
        # died with it; a restarted one counts its polls from 0): the episode is over.
        for key in set(self._schools) - seen:
            del self._schools[key]

    def _school_matches(self, sample: Sample, school: str, view: SchoolView, test: str) -> None:
        assigned, running = sample.allocation.koi(school, test), view.koi.get(test, 0)
        episode = _follow(self._schools, (school, test), assigned, running != assigned, sample.at)
        if episode is None:
            self._findings.check(SCHOOL_MATCHES_ASSIGNMENT, True)
            return
        baseline = episode.polls.get(school)
        restarted = baseline is not None and view.polls_ok < baseline
        if baseline is None or restarted or (running < assigned and sample.excused):
            episode.polls[school] = baseline = view.polls_ok
        needed = EXCESS_POLLS if running > assigned else SHORTFALL_POLLS
        late = view.polls_ok >= baseline + needed
        stored = {t: sample.allocation.koi(school, t) for t in sample.allocation.by_school.get(school, {})}
        detail = (
            f"{school} runs {running} koi of test {test}, assigned {assigned}, {needed} polls and "
            f"{sample.at - episode.since:.1f}s after the difference was seen (runs {view.koi}, stored {stored})"
        )
        self._report(SCHOOL_MATCHES_ASSIGNMENT, episode, late, detail)

    def _running_within_demand(self, sample: Sample) -> None:
        for test in sorted(set(sample.demand) | {t for v in sample.schools.values() for t in v.koi}):
            running = sum(v.koi.get(test, 0) for v in sample.schools.values())
            demand = sample.demand.get(test, 0)
            episode = _follow(self._running, test, demand, running > demand, sample.at)
            if episode is None:
                self._findings.check(KOI_WITHIN_DEMAND, True)
                continue
            stored = sum(sample.allocation.koi(s, test) for s in sample.allocation.by_school)
            holders = {s: v.polls_ok for s, v in sample.schools.items() if v.koi.get(test)}
            if stored <= demand:
                for school, polls in holders.items():
                    episode.polls.setdefault(school, polls)
            late = bool(episode.polls) and all(
                polls >= episode.polls.get(s, polls) + EXCESS_POLLS for s, polls in holders.items()
            )
            split = {s: v.koi[test] for s, v in sample.schools.items() if v.koi.get(test)}
            detail = f"test {test}: {running} koi run for {demand} asked ({split}), 2 polls after the allocation"
            self._report(KOI_WITHIN_DEMAND, episode, late and stored <= demand, detail)

    def _report(self, kind: str, episode: _Episode, late: bool, detail: str) -> None:
        if late and not episode.reported:
            episode.reported = True
            self._findings.check(kind, False, detail)
        else:
            self._findings.check(kind, True)


def _follow(episodes: dict[K, _Episode], key: K, expected: int, bad: bool, now: float) -> _Episode | None:
    """The open episode of ``key`` while ``bad``; a new one when the expected count changed; None once good."""
    if not bad:
        episodes.pop(key, None)
        return None
    episode = episodes.get(key)
    if episode is None or episode.expected != expected:
        episode = episodes[key] = _Episode(expected, now)
    return episode
