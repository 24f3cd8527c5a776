"""The target's configuration and the per-process objects every route shares."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from slacklike_target.faults import FaultTable
from slacklike_target.metrics import TargetMetrics
from slacklike_target.realtime import DEFAULT_MAX_BUFFER_BYTES, ConnectionHub
from slacklike_target.state import DEFAULT_MAX_MESSAGES_PER_CHANNEL, TargetState
from slacklike_target.tokens import TokenAuthority

# Environment variables of ``koipond target`` (its own, not the control plane's settings).
SECRET_ENV = "KOIPOND_TARGET_SECRET"  # noqa: S105 (a variable name, not a secret)
ADMIN_TOKEN_ENV = "KOIPOND_TARGET_ADMIN_TOKEN"  # noqa: S105 (a variable name, not a secret)


@dataclass(frozen=True)
class TargetConfig:
    """How one target process behaves.

    Attributes:
        secret: HMAC key of user tokens; the same secret keeps tokens valid across restarts.
        admin_token: bearer token of ``admin.tokens.mint`` and ``/admin/faults``.
        seed: seed of fault injection decisions (None: unpredictable).
        max_messages_per_channel: older messages are forgotten.
        websocket_heartbeat_seconds: aiohttp ping interval; a client silent for half of it more is closed.
        websocket_max_buffer_bytes: a client whose send buffer holds more misses events (counted).
    """

    secret: str
    admin_token: str
    seed: int | None = None
    max_messages_per_channel: int = DEFAULT_MAX_MESSAGES_PER_CHANNEL
    websocket_heartbeat_seconds: float = 30.0
    websocket_max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("the token secret must not be empty")
        if not self.admin_token:
            raise ValueError("the admin token must not be empty")

    def __repr__(self) -> str:
        return f"TargetConfig(seed={self.seed!r}, max_messages_per_channel={self.max_messages_per_channel})"


class TargetContext:
    """What routes share: tokens, state, faults, websocket hub and metrics (built once per app)."""

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        self.tokens = TokenAuthority(config.secret)
        self.state = TargetState(config.max_messages_per_channel)
        self.faults = FaultTable(config.seed)
        self.metrics = TargetMetrics()
        self.hub = ConnectionHub(self.metrics, config.websocket_max_buffer_bytes)
        self._admin_token = config.admin_token.encode()

    def is_admin(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self._admin_token)


TARGET_CONTEXT = web.AppKey("koipond_target", TargetContext)
