"""A pond in memory with a base behavior, an allowed S3 location and a Prometheus cluster, for source tests."""

from __future__ import annotations

from typing import Any

from koipond.clock import FixedClock
from koipond.composition.memory import MemoryPond, build_memory_pond
from koipond.services.behaviors import BehaviorService
from koipond.settings import Settings
from tests.conftest import START

BASE_BEHAVIOR: dict[str, Any] = {
    "description": "posts a little, reads a lot",
    "actions": {
        "post_message": {"method": "POST", "path": "/api/chat.postMessage", "rate_per_hour": 4},
        "read_history": {"method": "GET", "path": "/api/conversations.history", "rate_per_hour": 20},
        "auth_test": {"method": "POST", "path": "/api/auth.test", "rate_per_hour": 1},
    },
}
SETTINGS = Settings(behavior_source_locations="s3://usage/exports/", prometheus_url="http://127.0.0.1:9")
S3_SOURCE: dict[str, Any] = {"kind": "s3", "bucket": "usage", "key": "exports/avg.csv", "window": "1d"}


def usage_csv(post: float, read: float, auth: float, users: int = 2) -> str:
    """An export of ``users`` users each calling at these rates per hour over one day."""
    rows = ["user,method,calls"]
    for user in range(users):
        for method, rate in (("chat.postMessage", post), ("conversations.history", read), ("auth.test", auth)):
            rows.append(f"u{user},{method},{rate * 24:g}")
    return "\n".join(rows) + "\n"


def pond_with_base(clock: FixedClock | None = None) -> tuple[MemoryPond, FixedClock]:
    clock = clock or FixedClock(START)
    pond = build_memory_pond(SETTINGS, clock)
    BehaviorService(pond.behavior_store, clock).put("avg", BASE_BEHAVIOR, "people")
    return pond, clock
