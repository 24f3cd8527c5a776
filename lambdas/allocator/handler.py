"""Allocator entry point: an EventBridge schedule (rate 1 minute) invokes it; it loops passes until near its timeout.

Invocations that overlap (a late schedule, a retry) are safe: a pass that does not hold the lease only
tries to take it, and the lease's fencing token rejects a stale holder's writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from koipond.composition import get_keeper

if TYPE_CHECKING:
    from koipond.services.allocator import PassReport

logger = Logger(service="allocator")

# At most 55 s of passes per run: with the schedule's one-minute period, one run ends about when the next starts.
MAX_LOOP_SECONDS = 55.0
# Left for the summary, the log line and a slow last pass before Lambda's timeout cuts the run off.
SAFETY_MARGIN_SECONDS = 5.0


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    seconds = loop_seconds(context.get_remaining_time_in_millis())
    reports = get_keeper().allocator.run_for(seconds)
    summary = summarize(reports, seconds)
    logger.info("allocator run", extra=summary)
    return summary


def loop_seconds(remaining_millis: int) -> float:
    """How long to loop: the invocation's remaining time minus the safety margin, at most ``MAX_LOOP_SECONDS``."""
    return max(0.0, min(MAX_LOOP_SECONDS, remaining_millis / 1000 - SAFETY_MARGIN_SECONDS))


def summarize(reports: Sequence[PassReport], seconds: float) -> dict[str, Any]:
    """One line for the whole run: passes, passes that held the lease, writes, koi moved, the slowest pass."""
    fences = [r.fence for r in reports if r.held and r.fence is not None]
    return {
        "loop_seconds": round(seconds, 3),
        "passes": len(reports),
        "held_passes": sum(1 for r in reports if r.held),
        "fence": max(fences, default=None),
        "written": sum(r.written for r in reports),
        "moved_koi": sum(r.moved_koi for r in reports),
        "slowest_pass_seconds": round(max((r.seconds for r in reports), default=0.0), 3),
    }
