"""The koi-per-core bench's worlds: how N users become processes and targets, and how their figures add up."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT / "bench"))  # bench/ is a directory of scripts

from per_core_runs import LAG_TARGET, Run, combine, failed_run, memory_cap, world_sizes  # noqa: E402


@given(st.integers(1, 300_000), st.integers(1, 20_000))
def test_world_sizes_are_the_fewest_even_worlds_that_hold_every_user(n: int, world: int) -> None:
    sizes = world_sizes(n, world)
    assert sum(sizes) == n
    assert all(1 <= s <= world for s in sizes)
    assert len(sizes) == -(-n // world)  # no fewer worlds could hold them
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)


def test_world_sizes_at_and_past_one_world() -> None:
    assert world_sizes(9_950, 9_950) == [9_950]
    assert world_sizes(9_951, 9_950) == [4_976, 4_975]
    assert world_sizes(19_900, 9_950) == [9_950, 9_950]
    with pytest.raises(ValueError, match="n >= 1"):
        world_sizes(0, 9_950)


def _run(n: int, lag_p99: float | None = 0.01, cpu: float = 0.1, others: float = 0.05, held: int | None = None) -> Run:
    connected = n if held is None else held
    return Run("k6", n, 0.001, lag_p99, 0.2, 10.0, connected, connected, 100.0, 1.0, cpu, others, 1 << 20, 0.1)


def test_combine_adds_counts_and_takes_the_worst_lag() -> None:
    # Each process saw its sibling's CPU as "others": 0.1 + 0.05 (the other process) + 0.05 (elsewhere)
    runs = [_run(100, 0.010, cpu=0.1, others=0.15), _run(100, 0.030, cpu=0.1, others=0.15)]
    total = combine(runs)
    assert (total.n, total.processes) == (200, 2)
    assert total.lag_p99 == 0.030
    assert (total.connected_start, total.connected_end, total.calls, total.failed) == (200, 200, 200.0, 2.0)
    assert total.cpu == pytest.approx(0.2)
    assert total.others == pytest.approx(0.05)
    assert total.rss == 2 << 20
    assert total.target_cpu == pytest.approx(0.2)
    assert total.ok


def test_one_late_process_makes_the_run_late() -> None:
    runs = [_run(100, 0.010), _run(100, LAG_TARGET * 2), _run(100, 0.010)]
    assert not combine(runs).ok
    assert combine([_run(100, 0.010), _run(100, None)]).lag_p99 is None


def test_a_process_that_failed_fails_the_run() -> None:
    total = combine([_run(100), failed_run("k6", 100, "k6 did not start")])
    assert total.error == "k6 did not start"
    assert (total.n, total.processes) == (200, 2)
    assert not total.ok


def test_websockets_not_all_held_make_the_run_miss() -> None:
    assert not combine([_run(100), _run(100, held=99)]).ok


def test_memory_cap_goes_by_the_largest_run() -> None:
    runs = [_run(200), _run(10_000)]  # 1 MiB each: the larger run gives the smaller RSS per user
    runs[1].rss = 10_000 * 1024
    assert memory_cap(runs, available=1000 * 1024) == 700
    assert memory_cap([failed_run("k6", 100, "no")], available=1 << 30) is None


def test_cpu_sampler_reads_a_share_of_a_past_window() -> None:
    from common import CpuSampler

    with CpuSampler(os.getpid(), every=0.05) as sampler:
        start = time.time()
        while time.time() - start < 0.5:  # busy: this process's own CPU time grows
            pass
        end = time.time()
    assert 0.0 < sampler.share(start, end) <= 2.0  # of one core; the sampler thread may add a little
    with pytest.raises(RuntimeError, match="fewer than two CPU samples"):
        sampler.share(end + 60, end + 120)
