"""Keeper API Lambda entry point: checks before routing, routing, validation, OpenAPI; work is in koipond.services."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.utilities.typing import LambdaContext

import koipond
from koipond.api.meta import HealthOut, VocabularyOut
from lambdas.keeper_api.auth import PRINCIPAL
from lambdas.keeper_api.errors import (
    RequestRefused,
    documented,
    error_response,
    lambda_result,
    register_error_handlers,
    with_api_headers,
)
from lambdas.keeper_api.gate import screen
from lambdas.keeper_api.routes import (
    behaviors,
    console,
    deploys,
    emergency_stop,
    guard,
    keys,
    loadtests,
    metrics,
    notifications,
    rollouts,
    schools,
    token_jobs,
)
from lambdas.keeper_api.routes.callers import Viewer

logger = Logger(service="keeper-api")
app = APIGatewayHttpResolver(enable_validation=True)
app.configure_openapi(
    title="koipond Keeper API",
    version=koipond.__version__,
    summary="Control plane of koipond: load tests, Schools, emergency stop, behaviors and API keys.",
    security_schemes={"bearer": HTTPBearer(bearerFormat="kp_<key id>_<secret>")},
    security=[{"bearer": []}],
)
register_error_handlers(app)
for module in (loadtests, schools, emergency_stop, behaviors, keys, guard, token_jobs):
    app.include_router(module.router, prefix="/v1")
app.include_router(metrics.router, prefix="/v1")
app.include_router(notifications.router, prefix="/v1")
app.include_router(deploys.router, prefix="/v1")
app.include_router(rollouts.router, prefix="/v1")
app.include_router(console.router)  # /ui: the web console's static files


@app.get(
    "/healthz", summary="Liveness; no authentication", security=[{}], responses=documented(public=True), tags=["meta"]
)
def healthz() -> HealthOut:
    return HealthOut(status="ok", version=koipond.__version__)


@app.get(
    "/v1/vocabulary",
    summary="Every notification kind and status, test status and rollout status, for clients' choices",
    responses=documented(),
    tags=["meta"],
)
def vocabulary(_: Viewer) -> VocabularyOut:
    return VocabularyOut()


@app.get("/openapi.json", summary="This API's OpenAPI 3.1 document", security=[{}], include_in_schema=False)
def openapi() -> Response[str]:
    return Response(200, content_types.APPLICATION_JSON, app.get_openapi_json_schema())


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        principal = screen(event)  # before routing: no body is parsed for a caller without a token
    except RequestRefused as refused:
        return with_api_headers(lambda_result(refused.response))
    except Exception:  # as the resolver's own handler does: logged, and still the error shape
        logger.exception("unexpected error before routing")
        failed = error_response(500, "internal_error", "the Keeper failed unexpectedly; the error is logged")
        return with_api_headers(lambda_result(failed))
    if principal is not None:
        app.append_context(**{PRINCIPAL: principal})  # resolve() clears the context when it is done
    return with_api_headers(app.resolve(event, context))
