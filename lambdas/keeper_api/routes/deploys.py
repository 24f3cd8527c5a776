"""Deploy gate: deploy tools post deploy markers; a verdict follows the soak window; SLI settings per service."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from koipond.api.deploys import (
    DEPLOY_ID_PATTERN,
    CreateDeployRequest,
    DeployEventsOut,
    DeployListOut,
    DeployOut,
    ServiceSlisListOut,
    ServiceSlisOut,
    SliSettings,
)
from koipond.composition import get_keeper
from koipond.models.deploys import BUILD_PATTERN, SERVICE_PATTERN
from koipond.services.deploys import MAX_LIST, NewDeploy
from lambdas.keeper_api.errors import documented
from lambdas.keeper_api.routes.callers import Operator, Viewer

router = APIGatewayHttpRouter()
DeployId = Annotated[str, Path(pattern=DEPLOY_ID_PATTERN, description="Deploy id, e.g. dp-0123456789abcdef.")]
Service = Annotated[str, Path(pattern=SERVICE_PATTERN, description="Service name, e.g. chat-api.")]


# The SLI routes come first: /deploys/slis must not be taken for a deploy id.
@router.get(
    "/deploys/slis", summary="Services with SLI settings of their own", responses=documented(), tags=["deploys"]
)
def list_slis(_: Viewer) -> ServiceSlisListOut:
    return ServiceSlisListOut(services=[ServiceSlisOut.of(s) for s in get_keeper().deploys.list_slis()])


@router.get(
    "/deploys/slis/<service>",
    summary="A service's SLI settings (or the defaults)",
    responses=documented(),
    tags=["deploys"],
)
def get_slis(service: Service, _: Viewer) -> ServiceSlisOut:
    return ServiceSlisOut.of(get_keeper().deploys.slis(service))


@router.put(
    "/deploys/slis/<service>", summary="Set a service's SLIs and thresholds", responses=documented(), tags=["deploys"]
)
def put_slis(service: Service, body: SliSettings, principal: Operator) -> ServiceSlisOut:
    return ServiceSlisOut.of(get_keeper().deploys.put_slis(service, body, principal.name))


@router.delete(
    "/deploys/slis/<service>",
    summary="Return a service to the default SLIs",
    responses=documented(404),
    tags=["deploys"],
)
def delete_slis(service: Service, principal: Operator) -> ServiceSlisOut:
    deploys = get_keeper().deploys
    deploys.delete_slis(service, principal.name)
    return ServiceSlisOut.of(deploys.slis(service))


@router.post(
    "/deploys",
    summary="Record a deploy; its verdict follows the soak window (idempotent per service, build and at)",
    responses=documented(409, ok={201: "Recorded", 200: "Recorded before: the same deploy"}),
    tags=["deploys"],
)
def record_deploy(body: CreateDeployRequest, principal: Operator) -> tuple[DeployOut, int]:
    spec = NewDeploy(
        service=body.service,
        build=body.build,
        at=body.at,
        soak_seconds=body.soak if isinstance(body.soak, int) else None,
        baseline_seconds=body.baseline if isinstance(body.baseline, int) else None,
    )
    deploy, created = get_keeper().deploys.record(spec, principal.name)
    return DeployOut.of(deploy), 201 if created else 200


@router.get("/deploys", summary="A service's deploys, newest first", responses=documented(), tags=["deploys"])
def list_deploys(
    _: Viewer,
    service: Annotated[str, Query(pattern=SERVICE_PATTERN, description="The service.")],
    build: Annotated[str | None, Query(pattern=BUILD_PATTERN, description="Only deploys of this build.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="At most this many.")] = 20,
) -> DeployListOut:
    deploys = get_keeper().deploys.list_deploys(service, build, limit)
    return DeployListOut(deploys=[DeployOut.of(d) for d in deploys])


@router.get(
    "/deploys/<deploy_id>",
    summary="One deploy: windows, status, verdict and SLI rows",
    responses=documented(404),
    tags=["deploys"],
)
def show_deploy(deploy_id: DeployId, _: Viewer) -> DeployOut:
    return DeployOut.of(get_keeper().deploys.get(deploy_id))


@router.get(
    "/deploys/<deploy_id>/events",
    summary="A deploy's history, oldest first",
    responses=documented(404),
    tags=["deploys"],
)
def deploy_events(deploy_id: DeployId, _: Viewer) -> DeployEventsOut:
    return DeployEventsOut.of(get_keeper().deploys.events(deploy_id))
