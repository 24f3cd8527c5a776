"""Rollouts: attach a plan of stages to a running test, list and show them, steer them by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.fields import ID_PATTERN
from koipond.api.rollouts import CreateRolloutRequest, RolloutActionRequest, RolloutListOut, RolloutOut
from koipond.composition import get_keeper
from koipond.models.auth import Principal
from koipond.models.rollouts import Rollout, RolloutStatus
from lambdas.keeper_api import auth
from lambdas.keeper_api.errors import documented

router = APIGatewayHttpRouter()
RolloutId = Annotated[str, Path(pattern=ID_PATTERN, description="Rollout id, e.g. ro-0a1b2c3d4e.")]
Operator = Annotated[Principal, Depends(auth.operator)]


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
    _: Annotated[Principal, Depends(auth.viewer)],
    status: Annotated[RolloutStatus | None, Query(description="Only rollouts with this status.")] = None,
) -> RolloutListOut:
    return RolloutListOut(rollouts=[RolloutOut.of(r) for r in get_keeper().rollouts.list_rollouts(status)])


@router.get(
    "/rollouts/<rollout_id>",
    summary="Show a rollout with its stages and transitions",
    responses=documented(404),
    tags=["rollouts"],
)
def show_rollout(rollout_id: RolloutId, _: Annotated[Principal, Depends(auth.viewer)]) -> RolloutOut:
    return _full(get_keeper().rollouts.get(rollout_id))


def _act(
    verb: Callable[[str, str, str], Rollout], rollout_id: str, body: RolloutActionRequest, who: Principal
) -> RolloutOut:
    return _full(verb(rollout_id, who.name, body.reason))


@router.post(
    "/rollouts/<rollout_id>/advance",
    summary="Go to the next stage now (completes on the last)",
    responses=documented(404, 409),
    tags=["rollouts"],
)
def advance_rollout(rollout_id: RolloutId, body: RolloutActionRequest, principal: Operator) -> RolloutOut:
    return _act(get_keeper().rollouts.advance, rollout_id, body, principal)


@router.post(
    "/rollouts/<rollout_id>/pause",
    summary="Hold the rollout where it is",
    responses=documented(404, 409),
    tags=["rollouts"],
)
def pause_rollout(rollout_id: RolloutId, body: RolloutActionRequest, principal: Operator) -> RolloutOut:
    return _act(get_keeper().rollouts.pause, rollout_id, body, principal)


@router.post(
    "/rollouts/<rollout_id>/resume",
    summary="Resume a paused rollout; the stage's hold starts over",
    responses=documented(404, 409),
    tags=["rollouts"],
)
def resume_rollout(rollout_id: RolloutId, body: RolloutActionRequest, principal: Operator) -> RolloutOut:
    return _act(get_keeper().rollouts.resume, rollout_id, body, principal)


@router.post(
    "/rollouts/<rollout_id>/abort",
    summary="Give the rollout up; the test keeps running",
    responses=documented(404, 409),
    tags=["rollouts"],
)
def abort_rollout(rollout_id: RolloutId, body: RolloutActionRequest, principal: Operator) -> RolloutOut:
    return _act(get_keeper().rollouts.abort, rollout_id, body, principal)
