"""``make soak``: a local pond under a seeded schedule of kills, target faults and operations, for N minutes,
checking its invariants all along; prints a table, writes a JSON report, exits 1 on any violation.

Run: ``python -m local_pond.drills.soak --minutes 10 --seed 42 --report soak.json``. The same seed gives the
same schedule (see :mod:`local_pond.drills.schedule`); docs/soak.md explains the table.
"""

from __future__ import annotations

import _thread
import argparse
import dataclasses
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from koipond.settings import Settings
from local_pond.drills.chaos import PROCESSES_UP, Chaos
from local_pond.drills.conditions import PondConditions
from local_pond.drills.estop import ESTOP_REACHES, ESTOP_TARGET_QUIET, EstopDrill
from local_pond.drills.findings import Findings
from local_pond.drills.invariants import (
    ALLOCATION_DISJOINT,
    ASSIGNMENT_WITHIN_DEMAND,
    KOI_WITHIN_DEMAND,
    SCHOOL_MATCHES_ASSIGNMENT,
    Timing,
)
from local_pond.drills.keeper_calls import KeeperCaller
from local_pond.drills.ledger import HISTORY_RECORDED, NOTHING_LOST, Ledger
from local_pond.drills.notifications import NOTIFIED_ONCE, NotificationAudit
from local_pond.drills.observer import Observer
from local_pond.drills.operations import TOKEN_USERS, WORKSPACE, Operations
from local_pond.drills.report import print_report, write_report
from local_pond.drills.schedule import build_schedule
from local_pond.drills.steps import KOI_CONVERGED, DrillParts, StepRunner
from local_pond.drills.tokens import POISONED_JOB_REDRIVEN, TOKEN_JOB_DONE, PoisonedTokenJob, generate_tokens
from local_pond.pond import LocalPond, PondConfig
from local_pond.webhook_sink import WebhookSink

POLL_INTERVAL_SECONDS = 2.0
SAMPLE_SECONDS = 1.0
SCHOOLS = 3
# Of the run's minutes, about this long goes to starting the pond and the token job, and to the final checks.
SETUP_SECONDS = 35.0
FINAL_SECONDS = 25.0
MIN_CHAOS_SECONDS = 45.0
# Past its minutes, a drill on a slow machine may finish what it runs; then it is interrupted, then killed.
OVERRUN_SECONDS = 120.0
KILL_AFTER_INTERRUPT_SECONDS = 60.0
# Every invariant the drill checks: a run in which one of them was never checked proves nothing about it.
ALL_CHECKS = (
    ALLOCATION_DISJOINT,
    ASSIGNMENT_WITHIN_DEMAND,
    SCHOOL_MATCHES_ASSIGNMENT,
    KOI_WITHIN_DEMAND,
    ESTOP_REACHES,
    ESTOP_TARGET_QUIET,
    HISTORY_RECORDED,
    NOTIFIED_ONCE,
    TOKEN_JOB_DONE,
    POISONED_JOB_REDRIVEN,
    NOTHING_LOST,
    KOI_CONVERGED,
    PROCESSES_UP,
)


@dataclasses.dataclass(frozen=True)
class SoakPlan:
    minutes: float
    seed: int
    state_dir: Path
    report: Path | None

    @property
    def chaos_seconds(self) -> float:
        return max(MIN_CHAOS_SECONDS, self.minutes * 60 - SETUP_SECONDS - FINAL_SECONDS)


def pond_config(plan: SoakPlan, sink_url: str) -> PondConfig:
    """Three Schools, the target, real Prometheus, the guard, the tick, the token worker, a webhook sink."""
    return PondConfig(
        state_dir=plan.state_dir,
        schools=SCHOOLS,
        school_capacity=200,
        with_target=True,
        poll_interval_seconds=POLL_INTERVAL_SECONDS,
        koi_startup_spread_seconds=1.0,
        with_prometheus=True,
        scrape_seconds=2.0,
        guard_every_seconds=5.0,
        tick_every_seconds=1.0,
        with_token_worker=True,
        notification_sink_url=sink_url,
        # Short token retries: a poisoned batch reaches the DLQ (5 receives) in seconds, not minutes.
        env={"KOIPOND_TOKEN_BACKOFF_BASE_SECONDS": "1", "KOIPOND_TOKEN_BACKOFF_CAP_SECONDS": "2"},
        persistent=True,  # the embedded AWS keeps its state on disk: aws_crash restarts it from there
    )


def pond_timing() -> Timing:
    defaults = Settings.model_fields
    return Timing(
        poll_interval=POLL_INTERVAL_SECONDS,
        allocator_period=float(defaults["allocator_period_seconds"].default),
        allocator_lease=float(defaults["allocator_lease_seconds"].default),
        sample_period=SAMPLE_SECONDS,
    )


class Soak:
    """One drill: start the pond, run the schedule with the observer checking, final checks, tear down."""

    def __init__(self, plan: SoakPlan) -> None:
        self.plan = plan
        self.findings = Findings()
        self.timing = pond_timing()
        self.schedule = build_schedule(plan.seed, plan.chaos_seconds)
        self._stop = threading.Event()
        self._extra: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        """Run the drill; the pond is torn down however it ends (Ctrl-C and SIGTERM included)."""
        with WebhookSink() as sink:
            pond = self._start_pond(sink.url)
            try:
                self._drill(pond, sink)
            finally:
                self._stop.set()
                pond.stop()
        return self.summary()

    def _start_pond(self, sink_url: str) -> LocalPond:
        """A pond whose embedded AWS keeps its state across restarts; else (said so) one without aws_crash."""
        config = pond_config(self.plan, sink_url)
        pond = LocalPond(config)
        print(f"starting a pond in {self.plan.state_dir} (logs in {pond.logs})", flush=True)
        try:
            pond.start()
            return pond
        except RuntimeError as exc:
            pond.stop()
            last_line = str(exc).strip().splitlines()[-1]
            self.findings.skip("aws_crash", f"the embedded AWS did not start with its state on disk: {last_line}")
        fallback = dataclasses.replace(config, state_dir=self.plan.state_dir / "ephemeral", persistent=False)
        pond = LocalPond(fallback)
        pond.start()
        return pond

    def _drill(self, pond: LocalPond, sink: WebhookSink) -> None:
        conditions = PondConditions()
        audit = NotificationAudit(sink, self.findings)
        ledger = Ledger(self.findings)
        chaos = Chaos(pond, self.findings, conditions)
        caller = KeeperCaller(pond, self.findings, self._stop, between_attempts=chaos.restart_due)
        operations = Operations(pond, caller, ledger, self.findings, audit, self.plan.seed)
        observer = Observer(pond, self.findings, conditions, self.timing, audit)
        estop = EstopDrill(
            caller, operations, observer, ledger, self.findings, audit, conditions, self.timing, pond.target_url
        )
        poisoned = PoisonedTokenJob(pond, KeeperCaller(pond, self.findings, self._stop), self.findings, "poisoned")
        operations.put_behavior()
        generate_tokens(caller, self.findings, WORKSPACE, pond.target_url, TOKEN_USERS)
        for koi in (20, 30):
            operations.run("start", {"koi": koi})
        parts = DrillParts(self.findings, chaos, caller, operations, estop, poisoned, ledger, observer, audit)
        runner = StepRunner(parts, SCHOOLS)
        give_up = self.findings.started + self.plan.minutes * 60 + OVERRUN_SECONDS / 2
        observer.start()
        try:
            print(f"chaos for {self.plan.chaos_seconds:.0f}s: {len(self.schedule)} steps", flush=True)
            runner.run_schedule(self.schedule, give_up)
            runner.finish(poisoned_by=give_up)
        finally:
            caller.close()
            observer.stop()
            self._extra = {**observer.report(), "made": ledger.counts(), "notifications_expected": audit.expected}

    def summary(self) -> dict[str, Any]:
        found = self.findings.summary()
        found["checks"] = {**dict.fromkeys(ALL_CHECKS, 0), **found["checks"]}
        return {
            **found,
            **self._extra,
            "seed": self.plan.seed,
            "minutes": self.plan.minutes,
            "runtime_seconds": round(self.findings.elapsed(), 1),
            "schedule": [dataclasses.asdict(step) for step in self.schedule],
            "settings": {
                "schools": SCHOOLS,
                "poll_interval_seconds": self.timing.poll_interval,
                "estop_bound_seconds": self.timing.estop_bound,
                "allocator_grace_seconds": self.timing.allocator_grace,
                "sample_seconds": self.timing.sample_period,
            },
        }


def _interrupt_on_sigterm() -> None:
    def handler(signum: int, _: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def _watchdog(seconds: float) -> None:
    """The hard deadline: interrupt the drill (it tears the pond down), then end the process if that hangs."""

    def interrupt() -> None:
        print(f"soak: past its hard deadline ({seconds:.0f}s): interrupting", file=sys.stderr, flush=True)
        _thread.interrupt_main()
        time.sleep(KILL_AFTER_INTERRUPT_SECONDS)
        print("soak: still running; exiting (the pond's processes die with this one)", file=sys.stderr, flush=True)
        os._exit(3)

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_pond.drills.soak",
        description=(
            "Chaos soak of a local pond: three Schools, the bundled target, real Prometheus, the guard, the "
            "release tick, the token worker and a webhook sink, while a seeded schedule kill -9s and restarts "
            "them (and the Keeper and the embedded AWS), makes the target fail, slow down and drop websockets, "
            "and starts, scales, sheds, stops, resumes, ramps and emergency-stops tests. Invariants are checked "
            "all along; the exit status is 1 on any violation. See docs/soak.md."
        ),
    )
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="how long the whole drill runs, at least 2 (default: 10)"
    )
    parser.add_argument("--seed", type=int, default=None, help="the schedule's seed (default: a random one, printed)")
    parser.add_argument("--report", type=Path, default=None, help="also write the summary as JSON to this file")
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="the pond's state and logs (default: a new temporary directory)"
    )
    args = parser.parse_args(argv)
    if args.minutes < 2:
        parser.error("--minutes must be at least 2: the first pass of the schedule runs every kind once")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="koipond-soak-"))
    plan = SoakPlan(args.minutes, seed, state_dir, args.report)
    print(f"soak: seed {seed}, {args.minutes:g} minutes (reproduce: --seed {seed} --minutes {args.minutes:g})")
    _interrupt_on_sigterm()
    _watchdog(args.minutes * 60 + OVERRUN_SECONDS)
    soak = Soak(plan)
    try:
        summary = soak.run()
    except KeyboardInterrupt:
        soak.findings.violation("drill completed", "interrupted before the end (Ctrl-C, SIGTERM or its deadline)")
        summary = soak.summary()
    print_report(summary)
    if plan.report is not None:
        write_report(summary, plan.report)
    return 1 if summary["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
