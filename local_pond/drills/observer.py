"""The observer thread: samples the pond every second and runs the continuous checks on each sample."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from koipond import envvars
from koipond.api.client import KeeperApiError, KeeperClient
from local_pond.drills.conditions import PondConditions
from local_pond.drills.findings import Findings
from local_pond.drills.invariants import AllocationInvariants, Sample, Timing
from local_pond.drills.notifications import NotificationAudit
from local_pond.drills.probes import SchoolView, dynamodb_client, school_view, stored_allocation
from local_pond.pond import LocalPond

AUDIT_EVERY_SAMPLES = 5


class Observer:
    def __init__(
        self,
        pond: LocalPond,
        findings: Findings,
        conditions: PondConditions,
        timing: Timing,
        audit: NotificationAudit,
    ) -> None:
        self._pond = pond
        self._findings = findings
        self._conditions = conditions
        self._timing = timing
        self._audit = audit
        self._invariants = AllocationInvariants(timing, findings)
        self._client = KeeperClient(pond.keeper_url, pond.config.admin_token, timeout=5.0)
        self._dynamodb = dynamodb_client(pond)
        self._table = pond.component_env().get(envvars.TABLE_NAME, "koipond")
        self._trace_path = pond.config.state_dir / "soak-samples.jsonl"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-observer", daemon=True)
        self.samples = 0
        self.skipped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            sample = self.sample()
            if sample is None:
                self.skipped += 1
            else:
                self.samples += 1
                self._trace(sample)
                self._invariants.observe(sample)
                if self.samples % AUDIT_EVERY_SAMPLES == 0:
                    self._audit_notifications()
            self._stop.wait(max(0.0, self._timing.sample_period - (time.monotonic() - began)))

    def _trace(self, sample: Sample) -> None:
        """One line per sample in the state dir: what a violation is read against afterwards."""
        by_school = sample.allocation.by_school
        stored = {s: {t: sample.allocation.koi(s, t) for t in tests} for s, tests in by_school.items()}
        line = {
            "t": round(sample.at - self._findings.started, 2),
            "demand": sample.demand,
            "running": {s: v.koi for s, v in sample.schools.items()},
            "polls_ok": {s: v.polls_ok for s, v in sample.schools.items()},
            "stored": stored,
            "excused": sample.excused,
        }
        with self._trace_path.open("a") as trace:
            trace.write(json.dumps(line, separators=(",", ":")) + "\n")

    def _audit_notifications(self) -> None:
        try:
            self._audit.audit(self._client)
        except KeeperApiError:
            self.skipped += 1

    def sample(self) -> Sample | None:
        """The pond now; None while the Keeper or the embedded AWS does not answer (counted as skipped)."""
        at = time.monotonic()
        excused, back_at = self._conditions.excused(), self._conditions.keeper_back_at()
        try:
            tests = self._client.list_tests()
            allocation = stored_allocation(self._dynamodb, self._table)
        except (KeeperApiError, BotoCoreError, ClientError):
            return None
        demand = {t.id: t.active_koi if t.status == "running" else 0 for t in tests}
        return Sample(at, demand, self.school_views(), allocation, excused, back_at)

    def school_views(self) -> dict[str, SchoolView]:
        """Every School process that runs and answers, by id."""
        views: dict[str, SchoolView] = {}
        for process, url in zip(self._pond.schools, self._pond.school_metrics_urls, strict=True):
            view = school_view(url) if process.running else None
            if view is not None and process.running:
                views[process.name] = view
        return views

    def report(self) -> dict[str, Any]:
        return {"samples": self.samples, "samples_skipped": self.skipped}
