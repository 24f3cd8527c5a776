"""Schools: the poll that hands out work, the specs of the tests it names, and the list of Schools."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.fields import ID_PATTERN
from koipond.api.poll import LoadTestSpec, LoadTestSpecsRequest, LoadTestSpecsResponse, PollRequest, PollResponse
from koipond.api.schools import SchoolListOut, SchoolOut
from koipond.composition import get_keeper
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import OwnSchool, Viewer

router = APIGatewayHttpRouter()
SchoolId = Annotated[str, Path(pattern=ID_PATTERN, description="The School's stable id.")]


@router.post(
    "/schools/<school_id>/poll",
    summary="A School reports and receives its assignments",
    responses=documented(),
    tags=["schools"],
)
def poll(school_id: SchoolId, body: PollRequest, _: OwnSchool) -> PollResponse:
    answer = get_keeper().polls.poll(school_id, body.capacity, body.running, body.known_version)
    return PollResponse.from_domain(answer)


@router.post(
    "/schools/<school_id>/test-specs",
    summary="What the named tests run (behavior, target, workspace): fixed per test, so a School reads each once "
    "(a test that follows its behavior's latest version: again every refresh_seconds)",
    responses=documented(),
    tags=["schools"],
)
def specs_of_tests(school_id: SchoolId, body: LoadTestSpecsRequest, _: OwnSchool) -> LoadTestSpecsResponse:
    keeper = get_keeper()
    found, missing = keeper.polls.specs_of_tests(body.test_ids)
    followed = keeper.behaviors.followed_by(found)
    return LoadTestSpecsResponse(
        specs=[LoadTestSpec.from_domain(t, followed.get(t.id)) for t in found], missing=missing
    )


@router.get("/schools", summary="Known Schools with liveness and load", responses=documented(), tags=["schools"])
def list_schools(_: Viewer) -> SchoolListOut:
    return SchoolListOut(schools=[SchoolOut.of(s, live) for s, live in get_keeper().polls.list_schools()])
