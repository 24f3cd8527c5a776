"""Token jobs under the chaos: one that must complete, and one whose batch is poisoned (the target's mint
fails every call) that must land in the DLQ and complete after a redrive."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from koipond.api.client import KeeperApiError, KeeperClient
from koipond.api.tokens import TokenJobOut
from local_pond.drills.chaos import clear_target_fault
from local_pond.drills.findings import Findings
from local_pond.drills.keeper_calls import DrillCallError, KeeperCaller
from local_pond.drills.probes import MINT_METHOD
from local_pond.pond import LocalPond

TOKEN_JOB_DONE = "token job completes"  # noqa: S105 - a check's name
POISONED_JOB_REDRIVEN = "poisoned token job redriven"
JOB_TIMEOUT_SECONDS = 120.0
POISONED_USERS = 20  # one batch


def wait_for_job(
    caller: KeeperCaller, job_id: str, ok: Callable[[TokenJobOut], bool], timeout: float
) -> TokenJobOut | None:
    """The job once ``ok`` holds, or None after ``timeout`` (the Keeper being away meanwhile is fine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            job = caller.client.token_job(job_id)
        except KeeperApiError:
            job = None
        if job is not None and ok(job):
            return job
        time.sleep(1.0)
    return None


def create_job(caller: KeeperCaller, what: str, workspace: str, target: str, users: int) -> TokenJobOut:
    def made(client: KeeperClient) -> TokenJobOut | None:
        return next((j for j in client.token_jobs() if j.workspace == workspace), None)

    return caller.call(what, lambda c: c.create_token_job(workspace, target, 0, users), made)


def generate_tokens(caller: KeeperCaller, findings: Findings, workspace: str, target: str, users: int) -> None:
    """The tokens the drill's koi use, from a job that must complete (before the chaos begins)."""
    job = create_job(caller, "token job", workspace, target, users)
    done = wait_for_job(caller, job.id, lambda j: j.status == "done", JOB_TIMEOUT_SECONDS)
    findings.check(TOKEN_JOB_DONE, done is not None, f"token job {job.id} not done in {JOB_TIMEOUT_SECONDS:.0f}s")
    findings.operation("token_job")


class PoisonedTokenJob:
    """Runs on its own thread while the schedule goes on: poison, fail, DLQ, clear, redrive, done."""

    def __init__(self, pond: LocalPond, caller: KeeperCaller, findings: Findings, workspace: str) -> None:
        self._pond = pond
        self._caller = caller
        self._findings = findings
        self._workspace = workspace
        self._thread = threading.Thread(target=self._run, name="soak-poisoned-token-job", daemon=True)
        self.finished = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._drill()
        except (DrillCallError, KeeperApiError, httpx.HTTPError) as exc:
            self._findings.check(POISONED_JOB_REDRIVEN, False, f"the poisoned token job stopped short: {exc}")
        finally:
            self._clear_fault()
            self._caller.close()
            self.finished.set()

    def _drill(self) -> None:
        self._pond.target_faults("PUT", {"route": MINT_METHOD, "error_rate": 1.0, "status": 503})
        job = create_job(self._caller, "poisoned token job", self._workspace, self._pond.target_url, POISONED_USERS)
        failed = wait_for_job(self._caller, job.id, lambda j: j.status == "failed", JOB_TIMEOUT_SECONDS)
        in_dlq = failed is not None and self._wait_dlq(job.id)
        self._clear_fault()
        if not self._findings.check(POISONED_JOB_REDRIVEN, in_dlq, f"token job {job.id} never reached the DLQ"):
            return
        self._caller.call("token redrive", lambda c: c.token_redrive())
        done = wait_for_job(self._caller, job.id, lambda j: j.status == "done", JOB_TIMEOUT_SECONDS)
        self._findings.check(POISONED_JOB_REDRIVEN, done is not None, f"redriven token job {job.id} not done")
        self._findings.operation("token_poison")

    def _wait_dlq(self, job_id: str) -> bool:
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                sample = self._caller.client.token_dlq().sample
            except KeeperApiError:
                sample = []
            if any(b.job_id == job_id for b in sample):
                return True
            time.sleep(1.0)
        return False

    def _clear_fault(self) -> None:
        try:
            clear_target_fault(self._pond, MINT_METHOD)
        except httpx.HTTPError as exc:
            self._findings.note(f"the mint fault was not cleared: {exc}")
