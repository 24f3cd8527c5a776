"""Load tests: start, list, show, scale, shed, stop, resume and their history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

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
from koipond.models.cursors import MAX_CURSOR_CHARS
from koipond.models.tests import LoadTest, LoadTestStatus
from koipond.services.loadtests import LoadTestChange, NewLoadTest
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import Operator, Viewer

router = APIGatewayHttpRouter()
LoadTestId = Annotated[str, Path(pattern=ID_PATTERN, description="Load test id, e.g. lt-0a1b2c3d4e.")]


def _out(test: LoadTest) -> LoadTestOut:
    return LoadTestOut.of(test, get_keeper().polls.current_allocation().koi_of_test(test.id))


@router.post("/tests", summary="Start a load test", responses=documented(409, ok={201: "Started"}), tags=["tests"])
def create_test(body: CreateTestRequest, principal: Operator) -> tuple[LoadTestOut, int]:
    spec = NewLoadTest(
        name=body.name,
        target=str(body.target).rstrip("/"),
        behavior=body.behavior_ref(),
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
    _: Viewer, status: Annotated[LoadTestStatus | None, Query(description="Only tests with this status.")] = None
) -> LoadTestListOut:
    keeper = get_keeper()
    allocation = keeper.polls.current_allocation()
    tests = keeper.tests.list_tests(status)
    return LoadTestListOut(tests=[LoadTestOut.of(t, allocation.koi_of_test(t.id)) for t in tests])


@router.get("/tests/<test_id>", summary="Show one load test", responses=documented(404), tags=["tests"])
def show_test(test_id: LoadTestId, _: Viewer) -> LoadTestOut:
    return _out(get_keeper().tests.get(test_id))


@router.patch(
    "/tests/<test_id>", summary="Scale or shed a running test", responses=documented(404, 409), tags=["tests"]
)
def update_test(test_id: LoadTestId, body: UpdateTestRequest, principal: Operator) -> LoadTestOut:
    change = LoadTestChange(koi=body.koi, shed_percent=body.shed_percent)
    return _out(get_keeper().tests.change(test_id, change, principal.name, body.reason, body.version))


# Stop and resume differ only in the service method they call: one route each, registered from this table
# (the function names keep the OpenAPI operation ids they had as written-out routes).
ACTIONS = {"stop": "Stop a test (idempotent)", "resume": "Run a stopped test again"}


def _add_action(verb: str, summary: str) -> None:
    def act_on_test(test_id: LoadTestId, principal: Operator, body: LoadTestActionRequest | None = None) -> LoadTestOut:
        body = body or LoadTestActionRequest()
        act: Callable[[str, str, str | None, int | None], LoadTest] = getattr(get_keeper().tests, verb)
        return _out(act(test_id, principal.name, body.reason, body.version))

    act_on_test.__name__ = act_on_test.__qualname__ = f"{verb}_test"
    router.post(f"/tests/<test_id>/{verb}", summary=summary, responses=documented(404, 409), tags=["tests"])(
        act_on_test
    )


for _verb, _summary in ACTIONS.items():
    _add_action(_verb, _summary)


@router.get(
    "/tests/<test_id>/events", summary="A test's history, a page at a time", responses=documented(404), tags=["tests"]
)
def loadtest_events(
    test_id: LoadTestId,
    _: Viewer,
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
