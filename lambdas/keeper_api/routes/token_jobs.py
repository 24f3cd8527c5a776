"""Token jobs: enqueue minting for a workspace's users, follow progress, inspect and redrive the DLQ."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.tokens import CreateTokenJobRequest, DlqSummary, RedriveResult, TokenJobListOut, TokenJobOut
from koipond.composition import get_keeper
from koipond.tokens.jobs import TokenJobTooLargeError
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import Operator, Viewer

router = APIGatewayHttpRouter()


@router.post(
    "/token-jobs",
    summary="Mint tokens for users [start, end) of a workspace",
    responses=documented(409, ok={201: "Enqueued"}),
    tags=["tokens"],
)
def create_job(body: CreateTokenJobRequest, principal: Operator) -> tuple[TokenJobOut, int]:
    try:
        job = get_keeper().tokens.create_job(
            body.workspace, str(body.target).rstrip("/"), body.users.start, body.users.end, principal.name
        )
    except TokenJobTooLargeError as exc:
        # The cap is a setting, so the wire model cannot hold it; answer as it would have (422 on users).
        raise RequestValidationError([{"loc": ("body", "users"), "msg": exc.message, "type": "value_error"}]) from None
    return TokenJobOut.of(job), 201


@router.get("/token-jobs", summary="Token jobs, newest first", responses=documented(), tags=["tokens"])
def list_jobs(_: Viewer) -> TokenJobListOut:
    return TokenJobListOut(jobs=[TokenJobOut.of(j) for j in get_keeper().tokens.list_jobs()])


@router.get(
    "/token-jobs/dlq",
    summary="Dead-letter queue: depth and failed batches with their last error",
    responses=documented(),
    tags=["tokens"],
)
def dlq(_: Viewer) -> DlqSummary:
    return DlqSummary.of(get_keeper().tokens.dlq())


@router.post(
    "/token-jobs/dlq/redrive",
    summary="Move the dead-letter queue's batches back to the queue",
    responses=documented(),
    tags=["tokens"],
)
def redrive(principal: Operator) -> RedriveResult:
    return RedriveResult.of(get_keeper().tokens.redrive(principal.name))


@router.get("/token-jobs/<job_id>", summary="One token job's progress", responses=documented(404), tags=["tokens"])
def get_job(job_id: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$")], _: Viewer) -> TokenJobOut:
    return TokenJobOut.of(get_keeper().tokens.get_job(job_id))
