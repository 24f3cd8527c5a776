"""Token jobs: record a job and queue its plan, follow progress, inspect and redrive the DLQ."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

from koipond.clock import Clock
from koipond.errors import (
    BadRequestError,
    ConfigurationError,
    ConflictError,
    KoipondError,
    PermissionDeniedError,
    StoreError,
)
from koipond.ids import new_token_job_id
from koipond.tokens.mint_origins import MintOrigins
from koipond.tokens.models import (
    MAX_USER_INDEX,
    WORKSPACE_PATTERN,
    DlqSample,
    DlqSummary,
    PlanMessage,
    RedriveResult,
    ShardProgress,
    TokenJob,
    TokenJobStatus,
    shards_covering,
)
from koipond.tokens.ports import TokenJobRepository, TokenQueue

log = logging.getLogger("koipond.tokens")

_WORKSPACE = re.compile(WORKSPACE_PATTERN)
# One redrive call moves at most this many messages by receive-send-delete (about 100 SQS calls per
# 1,000), so an API call stays well inside API Gateway's 29 s; call it again for the rest.
REDRIVE_LIMIT = 2_000


class TokenJobTooLargeError(BadRequestError):
    """A job asks for more users than ``KOIPOND_TOKEN_MAX_USERS_PER_JOB`` allows."""

    code = "token_job_too_large"


class TooManyTokenJobsError(ConflictError):
    """The caller has ``KOIPOND_TOKEN_MAX_RUNNING_JOBS`` jobs that are not finished yet."""

    code = "too_many_token_jobs"


class TokenJobService:
    def __init__(
        self,
        jobs: TokenJobRepository,
        queue: TokenQueue,
        clock: Clock,
        token_ttl_seconds: int,
        origins: MintOrigins,
        max_users_per_job: int,
        max_running_jobs: int,
    ) -> None:
        self._jobs = jobs
        self._queue = queue
        self._clock = clock
        self._ttl = timedelta(seconds=token_ttl_seconds)
        self._origins = origins
        self._max_users = max_users_per_job
        self._max_running = max_running_jobs

    def create_job(
        self, workspace: str, target: str, start: int, end: int, actor: str, renews: TokenJob | None = None
    ) -> TokenJob:
        """Store a job for users ``[start, end)`` and queue the first step of its plan, nothing more.

        The worker expands the plan into one message per shard, a bounded number per step, so a job of
        100,000 batches costs this call one DynamoDB write and one SQS message.

        Args:
            workspace: whose users.
            target: base URL of the service whose mint endpoint issues the tokens.
            start: first user index. end: one past the last.
            actor: who asked (recorded on the job).
            renews: the job whose expiring tokens this one replaces (the schedule's renewal, which
                the per-caller cap does not count against).

        Raises:
            BadRequestError: a bad workspace, target or range (nothing is stored).
            TokenJobTooLargeError: more users than one job may have (nothing is stored).
            MintOriginNotAllowedError: the target's origin may not receive the mint token (nothing is stored).
            ConfigurationError: the allowed origins are misconfigured.
            TooManyTokenJobsError: ``actor`` has too many jobs still running.
            ConflictError: ``renews`` was renewed already.
            StoreError: DynamoDB or SQS failed; a job whose plan could not be queued is failed, says
                so in ``last_error``, and ``details`` names it.
        """
        _validate(workspace, target, start, end)
        if end - start > self._max_users:
            raise TokenJobTooLargeError(
                f"a job mints at most {self._max_users:,} users' tokens; this one asks for {end - start:,}:"
                " split the range",
                {"users": end - start, "max_users": self._max_users},
            )
        self._origins.check(target)
        if renews is None:
            self._refuse_past_running_cap(actor)
        job = self._new_job(workspace, target, start, end, actor, renews)
        self._jobs.create(job, renews)
        try:
            self._queue.send([PlanMessage(job_id=job.id, queued=0)])
        except StoreError as exc:
            self._jobs.record_plan_failure(job.id, f"queueing its plan failed: {exc.message}"[:300], final=True)
            raise StoreError(f"token job {job.id}: {exc.message}", {"job_id": job.id, **exc.details}) from exc
        log.info("token job %s planned: %d batches of %s by %s", job.id, job.batches_total, workspace, actor)
        return job

    def _new_job(
        self, workspace: str, target: str, start: int, end: int, actor: str, renews: TokenJob | None
    ) -> TokenJob:
        now = self._clock.now()
        return TokenJob(
            id=new_token_job_id(),
            workspace=workspace,
            target=target,
            start=start,
            end=end,
            batches_total=len(shards_covering(start, end)),
            created_at=now,
            created_by=actor,
            expires_at=now + self._ttl,
            renews=renews.id if renews else None,
        )

    def _refuse_past_running_cap(self, actor: str) -> None:
        # Read from the index (eventually consistent) and not reserved: two requests racing may both
        # pass at the cap minus one. The cap bounds the queue one caller can fill, it is not a quota.
        running = sum(1 for job in self._jobs.list_jobs() if job.created_by == actor and not job.finished)
        if running >= self._max_running:
            raise TooManyTokenJobsError(
                f"{actor} has {running} token jobs still running, at most {self._max_running} are allowed:"
                " wait for one to finish (`koipond tokens status`)",
                {"running": running, "max_running": self._max_running},
            )

    def get_job(self, job_id: str) -> TokenJob:
        """Raises: NotFoundError."""
        return self._jobs.get(job_id)

    def list_jobs(self) -> list[TokenJob]:
        """Every job, newest first."""
        return self._jobs.list_jobs()

    def shards(self, job_id: str) -> list[ShardProgress]:
        """The batches of a job that were retried, failed or done (others are pending). Raises: NotFoundError."""
        self._jobs.get(job_id)
        return self._jobs.list_shards(job_id)

    def dlq(self, sample: int = 10) -> DlqSummary:
        """The dead-letter queue's depth and up to ``sample`` of its batches with their last error."""
        depth, in_flight = self._queue.dlq_depth()
        peeked = self._queue.peek_dlq(sample) if depth and sample > 0 else []
        keys = [(q.batch.job_id, q.batch.shard) for q in peeked if q.batch]
        progress = self._jobs.get_shards(keys) if keys else {}
        samples = []
        for queued in peeked:
            if queued.plan is not None:
                samples.append(self._plan_sample(queued.message_id, queued.plan))
                continue
            batch = queued.batch
            shard = progress.get((batch.job_id, batch.shard)) if batch else None
            samples.append(
                DlqSample(
                    message_id=queued.message_id,
                    job_id=batch.job_id if batch else None,
                    workspace=batch.workspace if batch else None,
                    shard=batch.shard if batch else None,
                    attempts=shard.attempts if shard else 0,
                    last_error=shard.last_error if shard else "not a token batch",
                )
            )
        return DlqSummary(depth=depth, in_flight=in_flight, sample=samples)

    def _plan_sample(self, message_id: str, plan: PlanMessage) -> DlqSample:
        try:
            job: TokenJob | None = self._jobs.get(plan.job_id)
        except KoipondError:
            job = None
        return DlqSample(
            message_id=message_id,
            job_id=plan.job_id,
            workspace=job.workspace if job else None,
            shard=None,
            attempts=0,
            last_error=f"queueing batches from #{plan.queued} on failed: {job.last_error if job else 'no such job'}",
        )

    def redrive(self, actor: str, limit: int = REDRIVE_LIMIT) -> RedriveResult:
        """Move the dead-letter queue's batches back to the queue.

        Uses SQS's StartMessageMoveTask; where the endpoint lacks it (the embedded AWS), moves up to
        ``limit`` messages by receive-send-delete and puts their batches back to pending at once.
        A move task runs on its own: its batches stay failed until the worker finishes them.

        Raises:
            StoreError: SQS refused (for instance, a move task is already running).
        """
        depth, _ = self._queue.dlq_depth()
        handle = self._queue.start_move_task()
        if handle is not None:
            log.info("DLQ redrive by %s: move task %s for about %d batches", actor, handle, depth)
            return RedriveResult(
                method="message_move_task", task_handle=handle, approximate_messages=depth, requested_by=actor
            )
        moved = self._queue.move_back(limit)
        now = self._clock.now()
        reset = sum(1 for q in moved if q.batch and self._jobs.reset_failed(q.batch.job_id, q.batch.shard, now))
        reset += sum(1 for q in moved if q.plan and self._jobs.clear_plan_failure(q.plan.job_id))
        remaining, _ = self._queue.dlq_depth()
        log.info("DLQ redrive by %s: moved %d batches, %d back to pending", actor, len(moved), reset)
        return RedriveResult(
            method="receive_send_delete",
            approximate_messages=depth,
            moved=len(moved),
            shards_reset=reset,
            remaining=remaining,
            requested_by=actor,
        )

    def reenqueue_expiring(self, horizon_seconds: float, actor: str) -> list[TokenJob]:
        """Renew tokens that expire within ``horizon_seconds``: a new job for the same users.

        Only the newest job of each workspace and range is considered, and only once it is done; the
        new job marks the old one renewed in the same transaction, so overlapping runs renew it once.
        """
        limit = self._clock.now() + timedelta(seconds=horizon_seconds)
        newest: dict[tuple[str, int, int], TokenJob] = {}
        for job in self._jobs.list_jobs():
            newest.setdefault((job.workspace, job.start, job.end), job)
        renewed = []
        for job in newest.values():
            if job.status is not TokenJobStatus.DONE or job.renewed_by or not job.expires_at or job.expires_at > limit:
                continue
            try:
                renewed.append(self.create_job(job.workspace, job.target, job.start, job.end, actor, renews=job))
            except ConflictError:
                continue  # another run renewed it first
            except (BadRequestError, PermissionDeniedError, ConfigurationError) as exc:
                # Settings changed since the job was made (its origin is no longer allowed, say): skip it.
                log.warning("not renewing token job %s: %s", job.id, exc.message)
        return renewed


def _validate(workspace: str, target: str, start: int, end: int) -> None:
    if not _WORKSPACE.match(workspace):
        raise BadRequestError(f"workspace {workspace!r} must match {WORKSPACE_PATTERN}", {"workspace": workspace})
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequestError("target must be an http(s) URL")
    if "@" in parts.netloc or parts.query or parts.fragment:
        # Never echoed: user info or a query may hold a credential.
        raise BadRequestError("target must be a base URL, without user info, query or fragment")
    if not 0 <= start < end <= MAX_USER_INDEX:
        raise BadRequestError(
            f"users must be a non-empty range [start, end) within [0, {MAX_USER_INDEX}]", {"start": start, "end": end}
        )
