"""A bundled target on 127.0.0.1 (aiohttp's test server, on uvloop as in production) and a caller for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvloop
from aiohttp.test_utils import TestClient, TestServer

from slacklike_target.app import build_app
from slacklike_target.context import TARGET_CONTEXT, TargetConfig, TargetContext

SECRET = "integration-secret"
ADMIN_TOKEN = "integration-admin-token"
EVENT_TIMEOUT = 5.0


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        return self.body.get("error") if not self.body.get("ok") else None


@dataclass
class Target:
    client: TestClient[Any, Any]
    ctx: TargetContext

    def token(self, index: int, workspace: str = "pond") -> str:
        return self.ctx.tokens.mint(workspace, index)

    async def call(self, method: str, as_user: int | str | None = 1, http: str = "POST", **args: Any) -> Answer:
        """A Web API call as user ``as_user`` (an index, a raw token, or None for no token)."""
        token = self.token(as_user) if isinstance(as_user, int) else as_user
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        if http == "GET":
            request = self.client.get(f"/api/{method}", params=args, headers=headers)
        else:
            request = self.client.request(http, f"/api/{method}", json=args, headers=headers)
        async with request as response:
            return Answer(response.status, await response.json(content_type=None), dict(response.headers))

    async def admin(self, http: str, path: str, body: Any = None, token: str | None = ADMIN_TOKEN) -> Answer:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.client.request(http, path, json=body, headers=headers) as response:
            return Answer(response.status, await response.json(content_type=None), dict(response.headers))

    async def connect(self, index: int, workspace: str = "pond") -> aiohttp.ClientWebSocketResponse:
        """A websocket of user ``index``, past its ``hello``."""
        ws = await self.client.ws_connect("/ws", headers={"Authorization": f"Bearer {self.token(index, workspace)}"})
        assert await next_event(ws) == {"type": "hello"}
        return ws

    async def post(self, index: int, channel: str, text: str = "hi", **extra: Any) -> str:
        answer = await self.call("chat.postMessage", index, channel=channel, text=text, **extra)
        assert answer.body["ok"], answer.body
        return str(answer.body["ts"])

    async def metrics(self) -> str:
        async with self.client.get("/metrics") as response:
            assert response.status == 200
            return await response.text()


async def next_event(ws: aiohttp.ClientWebSocketResponse, wait_seconds: float = EVENT_TIMEOUT) -> dict[str, Any]:
    message = await ws.receive(timeout=wait_seconds)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    event: dict[str, Any] = json.loads(message.data)
    return event


def run_target(scenario: Callable[[Target], Awaitable[None]], **config: Any) -> None:
    """Run ``scenario`` against a fresh target (seeded faults unless ``seed`` is given)."""

    async def main() -> None:
        settings: dict[str, Any] = {"secret": SECRET, "admin_token": ADMIN_TOKEN, "seed": 7, **config}
        app = build_app(TargetConfig(**settings))
        server = TestServer(app, host="127.0.0.1")
        client: TestClient[Any, Any] = TestClient(server)
        async with server, client:
            await asyncio.wait_for(scenario(Target(client, app[TARGET_CONTEXT])), timeout=20)

    uvloop.run(main())
