"""Rollouts: attach a plan of stages to a running test, list and show them, steer them by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.fields import ID_PATTERN
from koipond.api.rollouts import CreateRolloutRequest, RolloutActionRequest, RolloutListOut, RolloutOut
from koipond.composition import get_keeper
from koipond.models.rollouts import Rollout, RolloutStatus
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import Operator, Viewer

router = APIGatewayHttpRouter()
RolloutId = Annotated[str, Path(pattern=ID_PATTERN, description="Rollout id, e.g. ro-0a1b2c3d4e.")]


def _full(rollout: Rollout) -> RolloutOut:
    return RolloutOut.of(rollout, get_keeper().rollouts.transitions(rollout.id))


@router.post(
    "/rollouts",
    summary="Start a rollout on a running test",
    responses=documented(404, 409, ok={201: "Started"}),
    tags=["rollouts"],
)
def create_rollout(body: CreateRolloutRequest, principal: Operator) -> tuple[RolloutOut, int]:
    plan = [(stage.koi, stage.hold) for stage in body.stages]
    return _full(get_keeper().rollouts.create(body.test_id, plan, principal.name, body.reason)), 201


@router.get("/rollouts", summary="List rollouts, newest first", responses=documented(), tags=["rollouts"])
def list_rollouts(
    _: Viewer, status: Annotated[RolloutStatus | None, Query(description="Only rollouts with this status.")] = None
) -> RolloutListOut:
    return RolloutListOut(rollouts=[RolloutOut.of(r) for r in get_keeper().rollouts.list_rollouts(status)])


@router.get(
    "/rollouts/<rollout_id>",
    summary="Show a rollout with its stages and transitions",
    responses=documented(404),
    tags=["rollouts"],
)
def show_rollout(rollout_id: RolloutId, _: Viewer) -> RolloutOut:
    return _full(get_keeper().rollouts.get(rollout_id))


# The hand steers differ only in the service method they call: one route each, registered from this table
# (the function names keep the OpenAPI operation ids they had as four written-out routes).
STEERS = {
    "advance": "Go to the next stage now (completes on the last)",
    "pause": "Hold the rollout where it is",
    "resume": "Resume a paused rollout; the stage's hold starts over",
    "abort": "Give the rollout up; the test keeps running",
}


def _add_steer(verb: str, summary: str) -> None:
    def steer(rollout_id: RolloutId, body: RolloutActionRequest, principal: Operator) -> RolloutOut:
        act: Callable[[str, str, str], Rollout] = getattr(get_keeper().rollouts, verb)
        return _full(act(rollout_id, principal.name, body.reason))

    steer.__name__ = steer.__qualname__ = f"{verb}_rollout"
    path = f"/rollouts/<rollout_id>/{verb}"
    router.post(path, summary=summary, responses=documented(404, 409), tags=["rollouts"])(steer)


for _verb, _summary in STEERS.items():
    _add_steer(_verb, _summary)
