"""The soak's seeded schedule, pure: which fault or operation runs when, with which parameters.

The same seed and length always give the same list of steps (kinds, order, times, parameters). What
an operation touches (which test a ``pick`` lands on) depends on the pond's state at that moment,
and a loaded machine may run steps later than planned; both are in the drill's log.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# Faults: processes killed with SIGKILL and started again, the target made to misbehave.
PROCESS_FAULTS = (
    "keeper_crash",
    "keeper_worker_crash",
    "school_crash",
    "guard_crash",
    "tick_crash",
    "token_worker_crash",
    "aws_crash",
)
TARGET_FAULTS = ("target_errors", "target_slow", "target_ws_reset")
FAULT_KINDS = PROCESS_FAULTS + TARGET_FAULTS
# Operations through the Keeper API, as people, deploy tools and rollouts make them.
OPERATION_KINDS = (
    "start",
    "scale",
    "shed",
    "stop",
    "resume",
    "rollout_start",
    "rollout_step",
    "estop",
    "key",
    "behavior",
    "deploy",
    "token_poison",
)
# How often each kind comes up after the first pass (which runs every kind once).
WEIGHTS = {
    **dict.fromkeys(PROCESS_FAULTS, 3),
    "keeper_crash": 4,
    "school_crash": 5,
    **dict.fromkeys(TARGET_FAULTS, 3),
    "start": 3,
    "scale": 5,
    "shed": 4,
    "stop": 3,
    "resume": 4,
    "rollout_start": 2,
    "rollout_step": 3,
    "estop": 3,
    "key": 1,
    "behavior": 1,
    "deploy": 1,
    "token_poison": 0,  # once, first: its retries and the DLQ take the longest
}
# The koi's own Web API methods and their websocket: the routes errors and latency are put on. Never
# the token mint, which the poisoned token job owns.
KOI_ROUTES = ("chat.postMessage", "conversations.history", "users.info", "websocket")
ROLLOUT_ACTIONS = ("advance", "advance", "advance", "pause", "resume", "abort")
SCHOOLS = 3


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the chaos began: the earliest this step runs
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


def build_schedule(seed: int, chaos_seconds: float) -> list[Step]:
    """Every kind once in a seeded order (the poisoned token job first), then weighted random kinds.

    Args:
        seed: the schedule's only source of randomness.
        chaos_seconds: steps are planned from 0 up to this many seconds.
    """
    rng = random.Random(seed)  # noqa: S311 - a reproducible schedule, not security
    first = [k for k in (*FAULT_KINDS, *OPERATION_KINDS) if k != "token_poison"]
    rng.shuffle(first)
    kinds = list(WEIGHTS)
    weights = [WEIGHTS[k] for k in kinds]
    steps = [Step(0.0, "token_poison")]
    at = 0.0
    while True:
        first_pass = len(steps) <= len(first)
        at += rng.uniform(0.3, 1.5) if first_pass else rng.uniform(1.0, 4.0)
        if at >= chaos_seconds and not first_pass:
            return steps
        kind = first[len(steps) - 1] if first_pass else rng.choices(kinds, weights)[0]
        steps.append(Step(round(at, 2), kind, _params(kind, rng)))


def _params(kind: str, rng: random.Random) -> dict[str, Any]:
    pick = {"pick": round(rng.random(), 4)}
    match kind:
        case "keeper_crash":
            return {"down": round(rng.uniform(0.0, 3.0), 2)}
        case "school_crash":
            # Past 3 missed polls (6 s at a 2 s interval) the Keeper moves the dead School's koi.
            return {"school": rng.randint(1, SCHOOLS), "down": round(rng.uniform(0.5, 10.0), 2)}
        case "guard_crash" | "tick_crash" | "token_worker_crash":
            return {"down": round(rng.uniform(0.5, 5.0), 2)}
        case "aws_crash":
            return {"clean": rng.random() < 0.25}
        case "target_errors":
            return {"route": rng.choice(KOI_ROUTES), "error_rate": round(rng.uniform(0.3, 1.0), 2),
                    "status": rng.choice((429, 500, 503)), "seconds": round(rng.uniform(4.0, 15.0), 2)}  # fmt: skip
        case "target_slow":
            return {"route": rng.choice(KOI_ROUTES), "latency_ms": rng.randint(200, 1500),
                    "seconds": round(rng.uniform(4.0, 15.0), 2)}  # fmt: skip
        case "start":
            return {"koi": rng.randint(10, 40)}
        case "scale":
            return {**pick, "koi": rng.randint(5, 60)}
        case "shed":
            return {**pick, "percent": rng.choice((0, 0, 25, 50, 75))}
        case "stop" | "resume":
            return pick
        case "rollout_start":
            return {**pick, "steps": sorted(rng.sample(range(2, 25), 3)), "hold": rng.randint(3, 8)}
        case "rollout_step":
            return {**pick, "action": rng.choice(ROLLOUT_ACTIONS)}
        case "estop":
            return {"hold": round(rng.uniform(0.0, 3.0), 2)}
    return {}
