"""Release tick entry point: an EventBridge schedule (rate 1 minute) invokes it; it runs every due step once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from koipond.composition import get_keeper, release_tick_steps
from koipond.services.release_tick import run_release_tick

logger = Logger(service="release-tick")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = run_release_tick(release_tick_steps(get_keeper()))
    logger.info("release tick", extra={"steps": report})
    return {"steps": report}
