"""The shutdown guard's queries and their last evaluations."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.guard import GuardOut, GuardQuery, GuardQueryDeletedOut, GuardQueryOut
from koipond.composition import get_keeper
from koipond.errors import BadRequestError
from koipond.models.guard import LABEL_PATTERN
from koipond.settings import guard_clusters
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import Operator, Viewer

router = APIGatewayHttpRouter()
Label = Annotated[str, Path(pattern=LABEL_PATTERN, description="The query's label.")]


@router.get(
    "/guard",
    summary="Guard queries with the value, outcome and time of their last evaluation",
    responses=documented(),
    tags=["guard"],
)
def guard_status(_: Viewer) -> GuardOut:
    keeper = get_keeper()
    status = keeper.guard.status()
    return GuardOut(
        clusters=sorted(guard_clusters(keeper.settings)),
        queries=[GuardQueryOut(query=GuardQuery.of(q), last=status.last.get(q.label)) for q in status.queries],
    )


@router.put("/guard/queries/<label>", summary="Create or replace a guard query", responses=documented(), tags=["guard"])
def put_query(label: Label, body: GuardQuery, principal: Operator) -> GuardQuery:
    if body.label != label:
        raise BadRequestError(f"the body's label {body.label!r} differs from the path's {label!r}")
    return GuardQuery.of(get_keeper().guard.put_query(body, principal.name))


@router.delete("/guard/queries/<label>", summary="Delete a guard query", responses=documented(404), tags=["guard"])
def delete_query(label: Label, principal: Operator) -> GuardQueryDeletedOut:
    get_keeper().guard.delete_query(label, principal.name)
    return GuardQueryDeletedOut(deleted=label)
