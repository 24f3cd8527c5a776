"""Shutdown guard entry point: an EventBridge schedule (rate 1 minute) invokes it; it runs the guard once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from koipond.composition import get_keeper

logger = Logger(service="shutdown-guard")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    evaluations = get_keeper().guard.run_once()
    summary = [
        {"label": e.label, "outcome": e.outcome.value, "value": e.value, "acted": e.acted, "detail": e.detail}
        for e in evaluations
    ]
    for line in summary:
        logger.info("guard evaluation", extra=line)
    return {"evaluations": summary}
