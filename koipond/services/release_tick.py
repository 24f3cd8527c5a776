"""The release tick: one scheduled pass that moves every time-driven release process forward."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("koipond.release_tick")

# A step does one kind of due work (advance rollouts, judge deploys, deliver notifications, ...) and
# returns a small summary for the log.
TickStep = Callable[[], Mapping[str, Any]]


def run_release_tick(steps: Mapping[str, TickStep]) -> dict[str, Any]:
    """Run each step in order; a failing step is reported and does not keep the later ones from running.

    Args:
        steps: step name -> step, in the order they should run.

    Returns:
        Step name -> that step's summary, or ``{"error": ...}`` when it raised.
    """
    report: dict[str, Any] = {}
    for name, step in steps.items():
        try:
            report[name] = dict(step())
        except Exception as exc:  # a broken step (e.g. Prometheus down) must not starve the others
            log.exception("release tick step %s failed", name)
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return report
