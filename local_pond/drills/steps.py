"""Running the soak's schedule, one step after another, then its final checks."""

from __future__ import annotations

import time
from dataclasses import dataclass

from koipond.api.client import KeeperApiError
from local_pond.drills.chaos import Chaos
from local_pond.drills.estop import EstopDrill
from local_pond.drills.findings import Findings
from local_pond.drills.keeper_calls import DrillCallError, KeeperCaller
from local_pond.drills.ledger import Ledger
from local_pond.drills.notifications import NotificationAudit
from local_pond.drills.observer import Observer
from local_pond.drills.operations import Operations
from local_pond.drills.schedule import FAULT_KINDS, Step
from local_pond.drills.tokens import POISONED_JOB_REDRIVEN, PoisonedTokenJob

KOI_CONVERGED = "koi converged at the end"
STEP_FAILED = "killed component came back"
CONVERGE_SECONDS = 30.0
TRACK_ROLLOUTS_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class DrillParts:
    """Everything a step may use, built once per drill."""

    findings: Findings
    chaos: Chaos
    caller: KeeperCaller  # the schedule thread's own: its retries restart killed processes when due
    operations: Operations
    estop: EstopDrill
    poisoned: PoisonedTokenJob
    ledger: Ledger
    observer: Observer
    audit: NotificationAudit


class StepRunner:
    def __init__(self, parts: DrillParts, schools: int) -> None:
        self._parts = parts
        self._findings = parts.findings
        self._chaos = parts.chaos
        self._schools = schools
        self._tracked_at = 0.0

    def run_schedule(self, schedule: list[Step], give_up: float) -> None:
        """Each step at its planned time (or at once when behind); none starts after ``give_up`` (monotonic)."""
        began = time.monotonic()
        for number, step in enumerate(schedule, 1):
            if time.monotonic() > give_up:
                self._findings.note(f"out of time: steps {number}..{len(schedule)} not run")
                return
            self._wait_until(began + step.at)
            print(f"t={self._findings.elapsed():6.1f}s step {number}: {step.kind} {step.params}", flush=True)
            self._chaos.check_alive()
            self._step(step)

    def _wait_until(self, moment: float) -> None:
        while True:
            self._chaos.restart_due()
            if time.monotonic() - self._tracked_at > TRACK_ROLLOUTS_EVERY_SECONDS:
                self._tracked_at = time.monotonic()
                self._parts.operations.track_rollouts()
            if time.monotonic() >= moment:
                return
            time.sleep(min(0.2, moment - time.monotonic()))

    def _step(self, step: Step) -> None:
        try:
            if step.kind in FAULT_KINDS:
                self._fault(step)
            elif step.kind == "estop":
                self._chaos.restart_keeper_now()  # the stop's latency is measured against a Keeper that answers
                self._parts.estop.run(float(step.params["hold"]))
            elif step.kind == "token_poison":
                self._parts.poisoned.start()
            else:
                self._parts.operations.run(step.kind, step.params)
        except DrillCallError as exc:
            self._findings.note(f"step {step.kind} cut short: {exc}")
        except RuntimeError as exc:  # a process did not come back: the pond's failure, not the drill's
            self._findings.violation(STEP_FAILED, f"{step.kind}: {exc}")

    def _fault(self, step: Step) -> None:
        if not self._chaos.inject(step.kind, step.params):
            return
        self._findings.fault(step.kind)
        if step.kind == "aws_crash":
            ledger = self._parts.ledger
            self._parts.caller.read("nothing lost", lambda c: ledger.check_nothing_lost(c, "after an AWS restart"))

    def finish(self, poisoned_by: float) -> None:
        """Bring everything back, let the pond settle, then the end-of-run checks.

        Args:
            poisoned_by: time.monotonic() by which the poisoned token job must have finished.
        """
        print(f"t={self._findings.elapsed():6.1f}s final checks", flush=True)
        self._chaos.check_alive()
        self._chaos.restart_due(everything=True)
        wait = max(5.0, poisoned_by - time.monotonic())
        self._parts.poisoned.join(wait)
        if not self._parts.poisoned.finished.is_set():
            self._findings.violation(POISONED_JOB_REDRIVEN, f"not finished {wait:.0f}s after the chaos ended")
        self._converge()
        self._parts.operations.track_rollouts()
        self._deliveries()
        ledger = self._parts.ledger
        self._parts.caller.read("nothing lost", lambda c: ledger.check_nothing_lost(c, "at the end"))

    def _converge(self) -> None:
        """With every fault cleared, every running test's koi all run (on Schools that all answer)."""
        deadline = time.monotonic() + CONVERGE_SECONDS
        detail = "no sample"
        while time.monotonic() < deadline:
            sample = self._parts.observer.sample()
            if sample is not None:
                views = sample.schools
                counts = {t: (sum(v.koi.get(t, 0) for v in views.values()), d) for t, d in sample.demand.items()}
                off = {t: pair for t, pair in counts.items() if pair[0] != pair[1]}
                detail = f"koi running vs asked per test: {off}, Schools answering: {sorted(views)}"
                if not off and len(views) == self._schools:
                    self._findings.check(KOI_CONVERGED, True)
                    return
            time.sleep(1.0)
        self._findings.check(KOI_CONVERGED, False, f"not within {CONVERGE_SECONDS:.0f}s: {detail}")

    def _deliveries(self) -> None:
        """Wait for the notifications still owed, each at most until its grace is over, then audit for good."""
        audit, client = self._parts.audit, self._parts.caller.client
        deadline = max(time.monotonic() + 5.0, audit.latest_due())
        while time.monotonic() < deadline:
            try:
                if audit.audit(client):
                    break
            except KeeperApiError:
                pass
            time.sleep(1.0)
        self._parts.caller.read("notifications", lambda c: audit.audit(c, final=True))
