"""The token worker's plan steps: expand a job into its batches on the queue, a bounded number per step."""

from __future__ import annotations

import logging
from typing import Any

from koipond.errors import NotFoundError, StoreError
from koipond.tokens.mint_origins import MintOrigins
from koipond.tokens.models import PlanMessage, ShardMessage
from koipond.tokens.ports import TokenJobRepository, TokenQueue

log = logging.getLogger("koipond.tokens.plan")


class TokenJobPlanner:
    """Runs one step of a job's plan per :class:`PlanMessage`; steps chain until every batch is queued.

    A step queues the batches ``[queued, queued + step_batches)``, then moves the job's cursor by a
    conditional write, then sends the next step. The handler runs :meth:`process` behind Powertools
    idempotency keyed by job and cursor, so a step delivered again after it finished does nothing.
    A worker that dies mid-step leaves the message to be delivered again once its invocation's time
    is up: it queues the same batches again (the batch worker mints and counts each batch once,
    whatever number of messages carry it) and moves the cursor. Should two deliveries of one step
    ever run, one loses the cursor's race and stops, so the plan never forks.
    """

    def __init__(self, jobs: TokenJobRepository, queue: TokenQueue, origins: MintOrigins, step_batches: int) -> None:
        self._jobs = jobs
        self._queue = queue
        self._origins = origins
        self._step = step_batches

    def process(self, plan: dict[str, Any]) -> dict[str, Any]:
        """:meth:`step` for a :class:`PlanMessage` as a dict (what the idempotency layer hands over)."""
        return self.step(PlanMessage.model_validate(plan))

    def step(self, message: PlanMessage) -> dict[str, Any]:
        """Queue the next batches of ``message``'s job and send the step after them.

        Returns:
            A summary; ``outcome`` is ``queued``, ``planned`` (nothing left), ``continued`` (a stale
            step sent the current one again), ``lost_race`` or ``no_job``.

        Raises:
            MintOriginNotAllowedError: the job's target is no longer allowed (retried, then the DLQ;
                a redrive after the list is fixed resumes the plan where it stopped).
            StoreError: DynamoDB or SQS failed (the step is retried).
        """
        summary: dict[str, Any] = {"job_id": message.job_id, "step_from": message.queued}
        try:
            job = self._jobs.get(message.job_id)
        except NotFoundError:
            return {**summary, "outcome": "no_job"}
        if job.batches_queued >= job.batches_total:
            return {**summary, "outcome": "planned"}
        if message.queued < job.batches_queued:
            # Only a step run again after dying gets here (a finished one is answered by its idempotency
            # record): it died after moving the cursor, maybe before sending the next step, so send it.
            self._queue.send([PlanMessage(job_id=job.id, queued=job.batches_queued)])
            return {**summary, "outcome": "continued", "queued": job.batches_queued}
        if message.queued > job.batches_queued:
            # Cursors only move after their batches are queued, and reads are consistent: retry, never skip.
            raise StoreError(f"plan step of token job {job.id} at {message.queued} is ahead of its cursor")
        # Checked again here so a job stored before its origin left the list queues nothing more.
        self._origins.check(job.target)
        shards = job.shards()[message.queued : message.queued + self._step]
        self._queue.send([ShardMessage.whole_shard(job.id, job.workspace, job.target, shard) for shard in shards])
        reached = message.queued + len(shards)
        if not self._jobs.advance_plan(job.id, message.queued, reached):
            return {**summary, "outcome": "lost_race"}
        if reached < job.batches_total:
            self._queue.send([PlanMessage(job_id=job.id, queued=reached)])
        log.info("token job %s: %d of %d batches queued", job.id, reached, job.batches_total)
        return {**summary, "outcome": "queued", "batches": len(shards), "queued": reached}
