"""The emergency stop: any authenticated person may pull it; operators lift it."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.estop import EmergencyStopOut, EmergencyStopRequest, LiftEmergencyStopRequest
from koipond.composition import get_keeper
from koipond.services.emergency_stop import EmergencyStopStatus
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import Operator, Viewer

router = APIGatewayHttpRouter()


def _out(status: EmergencyStopStatus) -> EmergencyStopOut:
    return EmergencyStopOut.of(status.state, status.history, status.changed)


@router.post(
    "/emergency-stop",
    summary="Pull the emergency stop: stop every test now",
    responses=documented(),
    tags=["emergency stop"],
)
def activate(body: EmergencyStopRequest, principal: Viewer) -> EmergencyStopOut:
    return _out(get_keeper().estop.activate(principal.name, body.reason))


@router.delete(
    "/emergency-stop",
    summary="Lift the emergency stop (tests stay stopped)",
    responses=documented(),
    tags=["emergency stop"],
)
def lift(principal: Operator, body: LiftEmergencyStopRequest | None = None) -> EmergencyStopOut:
    return _out(get_keeper().estop.lift(principal.name, (body or LiftEmergencyStopRequest()).reason))


@router.get(
    "/emergency-stop", summary="Emergency stop state and history", responses=documented(), tags=["emergency stop"]
)
def status(_: Viewer) -> EmergencyStopOut:
    return _out(get_keeper().estop.status())
