"""Load tests: start, list, show, scale, shed, stop, resume and their history."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.fields import ID_PATTERN
from koipond.api.history import EventListOut, EventOut
from koipond.api.loadtests import (
    CreateTestRequest,
    LoadTestActionRequest,
    LoadTestListOut,
    LoadTestOut,
    UpdateTestRequest,
)
from koipond.composition import get_keeper
from koipond.models.auth import Principal
from koipond.models.tests import BehaviorRef, LoadTest, LoadTestStatus
from koipond.services.loadtests import LoadTestChange, NewLoadTest
from koipond.store.history import MAX_CURSOR_CHARS
from lambdas.keeper_api import auth
from lambdas.keeper_api.errors import documented

router = APIGatewayHttpRouter()
LoadTestId = Annotated[str, Path(pattern=ID_PATTERN, description="Load test id, e.g. lt-0a1b2c3d4e.")]


def _out(test: LoadTest) -> LoadTestOut:
    return LoadTestOut.of(test, get_keeper().polls.current_allocation().koi_of_test(test.id))


@router.post("/tests", summary="Start a load test", responses=documented(409, ok={201: "Started"}), tags=["tests"])
def create_test(
    body: CreateTestRequest, principal: Annotated[Principal, Depends(auth.operator)]
) -> tuple[LoadTestOut, int]:
    behavior = (
        BehaviorRef(name=body.behavior) if isinstance(body.behavior, str) else BehaviorRef(**body.behavior.model_dump())
    )
    spec = NewLoadTest(
        name=body.name,
        target=str(body.target).rstrip("/"),
        behavior=behavior,
        workspace=body.workspace,
        koi=body.koi,
        shed_percent=body.shed_percent,
        duration_seconds=body.duration_seconds,
        tags=tuple(body.tags),
        resume_policy=body.resume_policy(),
    )
    return _out(get_keeper().tests.create(spec, principal.name)), 201


@router.get("/tests", summary="List load tests, newest first", responses=documented(), tags=["tests"])
def list_tests(
    _: Annotated[Principal, Depends(auth.viewer)],
    status: Annotated[LoadTestStatus | None, Query(description="Only tests with this status.")] = None,
) -> LoadTestListOut:
    keeper = get_keeper()
    allocation = keeper.polls.current_allocation()
    tests = keeper.tests.list_tests(status)
    return LoadTestListOut(tests=[LoadTestOut.of(t, allocation.koi_of_test(t.id)) for t in tests])


@router.get("/tests/<test_id>", summary="Show one load test", responses=documented(404), tags=["tests"])
def show_test(test_id: LoadTestId, _: Annotated[Principal, Depends(auth.viewer)]) -> LoadTestOut:
    return _out(get_keeper().tests.get(test_id))


@router.patch(
    "/tests/<test_id>", summary="Scale or shed a running test", responses=documented(404, 409), tags=["tests"]
)
def update_test(
    test_id: LoadTestId, body: UpdateTestRequest, principal: Annotated[Principal, Depends(auth.operator)]
) -> LoadTestOut:
    change = LoadTestChange(koi=body.koi, shed_percent=body.shed_percent)
    return _out(get_keeper().tests.change(test_id, change, principal.name, body.reason, body.version))


@router.post(
    "/tests/<test_id>/stop", summary="Stop a test (idempotent)", responses=documented(404, 409), tags=["tests"]
)
def stop_test(
    test_id: LoadTestId,
    principal: Annotated[Principal, Depends(auth.operator)],
    body: LoadTestActionRequest | None = None,
) -> LoadTestOut:
    body = body or LoadTestActionRequest()
    return _out(get_keeper().tests.stop(test_id, principal.name, body.reason, body.version))


@router.post(
    "/tests/<test_id>/resume", summary="Run a stopped test again", responses=documented(404, 409), tags=["tests"]
)
def resume_test(
    test_id: LoadTestId,
    principal: Annotated[Principal, Depends(auth.operator)],
    body: LoadTestActionRequest | None = None,
) -> LoadTestOut:
    body = body or LoadTestActionRequest()
    return _out(get_keeper().tests.resume(test_id, principal.name, body.reason, body.version))


@router.get(
    "/tests/<test_id>/events", summary="A test's history, a page at a time", responses=documented(404), tags=["tests"]
)
def loadtest_events(
    test_id: LoadTestId,
    _: Annotated[Principal, Depends(auth.viewer)],
    limit: Annotated[int, Query(ge=1, le=500, description="Most events in this page.")] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_CHARS, pattern=r"^[A-Za-z0-9_-]+$", description="next_cursor of the last page."),
    ] = None,
    order: Annotated[Literal["oldest", "newest"], Query(description="Oldest (default) or newest first.")] = "oldest",
) -> EventListOut:
    events, next_cursor = get_keeper().tests.events_page(
        test_id, limit=limit, cursor=cursor, newest_first=order == "newest"
    )
    return EventListOut(events=[EventOut.of(e) for e in events], next_cursor=next_cursor)
