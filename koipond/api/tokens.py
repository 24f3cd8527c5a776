"""Wire models of token jobs: a job request in, jobs with their plan and batch progress out."""

from __future__ import annotations

from datetime import datetime

from pydantic import AnyHttpUrl, BaseModel, Field

from koipond.api.fields import Request
from koipond.tokens import models as domain
from koipond.tokens.models import (
    MAX_USER_INDEX,
    SHARD_SIZE,
    WORKSPACE_PATTERN,
    TokenJob,
    TokenJobStatus,
    shards_covering,
)

# Clients say how a user range rounds (koipond tokens generate); the shard size is the token pipeline's.
SHARD_USERS = SHARD_SIZE


def minted_users(start: int, end: int) -> range:
    """The users a job for ``[start, end)`` mints tokens for: the whole shards of SHARD_SIZE covering them."""
    shards = shards_covering(start, end)
    return range(shards.start * SHARD_SIZE, shards.stop * SHARD_SIZE)


class TokenUserRange(Request):
    start: int = Field(default=0, strict=True, ge=0, description="First user index.")
    end: int = Field(
        strict=True,
        gt=0,
        le=MAX_USER_INDEX,
        description="One past the last user index; a job holds at most KOIPOND_TOKEN_MAX_USERS_PER_JOB users.",
    )


class CreateTokenJobRequest(Request):
    workspace: str = Field(pattern=WORKSPACE_PATTERN)
    target: AnyHttpUrl = Field(
        description="Service whose mint endpoint issues the tokens; its origin must be one an admin allowed"
        " (KOIPOND_TOKEN_MINT_ORIGINS), since the mint admin token is sent there."
    )
    users: TokenUserRange


class TokenJobOut(BaseModel):
    id: str
    workspace: str
    target: str
    start: int
    end: int
    status: TokenJobStatus = Field(
        description="planning while the worker queues the batches, then running, done or failed."
    )
    batches_total: int
    batches_queued: int = Field(description="Batches queued so far (equals batches_total once planning is over).")
    batches_done: int
    batches_failed: int
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_error: str | None

    @classmethod
    def of(cls, job: TokenJob) -> TokenJobOut:
        return cls.model_validate(job, from_attributes=True)  # status is the job's property


class TokenJobListOut(BaseModel):
    jobs: list[TokenJobOut]


class DlqSummary(domain.DlqSummary):
    # The dead-letter queue is shown as the token service summarises it; named and described as before so
    # the OpenAPI document keeps its component.
    __doc__ = domain.DlqSummary.__doc__

    @classmethod
    def of(cls, summary: domain.DlqSummary) -> DlqSummary:
        return cls.model_validate(summary.model_dump())


class RedriveResult(domain.RedriveResult):
    # As DlqSummary: the service's account of a redrive, unchanged on the wire.
    __doc__ = domain.RedriveResult.__doc__

    @classmethod
    def of(cls, result: domain.RedriveResult) -> RedriveResult:
        return cls.model_validate(result.model_dump())
