"""Schools: the poll that hands out work, and the list of Schools."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.composition import get_keeper
from koipond.contracts.poll import PollRequest, PollResponse
from koipond.models.auth import Principal
from lambdas.keeper_api import auth
from lambdas.keeper_api.schemas import ID_PATTERN, SchoolListOut, SchoolOut

router = APIGatewayHttpRouter()


@router.post("/schools/<school_id>/poll", summary="A School reports and receives its assignments", tags=["schools"])
def poll(
    school_id: Annotated[str, Path(pattern=ID_PATTERN, description="The School's stable id.")],
    body: PollRequest,
    _: Annotated[Principal, Depends(auth.school)],
) -> PollResponse:
    return PollResponse.from_domain(get_keeper().polls.poll(school_id, body.capacity, body.running))


@router.get("/schools", summary="Known Schools with liveness and load", tags=["schools"])
def list_schools(_: Annotated[Principal, Depends(auth.viewer)]) -> SchoolListOut:
    return SchoolListOut(
        schools=[SchoolOut.of(s, live, assigned) for s, live, assigned in get_keeper().polls.list_schools()]
    )
