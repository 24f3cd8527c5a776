"""A koi: one simulated user with its own token, websocket and behavior, as one asyncio task."""

from __future__ import annotations

import asyncio
import heapq
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from koipond import workspace
from koipond.models.behavior import BehaviorDocument
from koipond.scheduling import ScheduledAction, SteadySchedule, formation_plan, koi_rng, next_firing, startup_delay
from koipond.templates import TemplateError, render_json, render_template
from school_container.metrics import SchoolMetrics
from school_container.web_api import WebApi

_WORDS = [
    "pond",
    "koi",
    "swim",
    "ripple",
    "lotus",
    "carp",
    "splash",
    "reed",
    "stone",
    "bridge",
    "lantern",
    "moss",
    "current",
    "shade",
]


@dataclass
class TestContext:
    """What every koi of one test on this School shares (built once per assignment)."""

    __test__ = False
    test_id: str
    workspace: str
    target: str
    behavior: BehaviorDocument
    web_api: WebApi
    metrics: SchoolMetrics
    startup_spread_seconds: float
    variables_used: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.variables_used = {name: a.variables_used() for name, a in self.behavior.actions.items()}

    @property
    def websocket_url(self) -> str:
        base = self.target.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return base.rstrip("/") + self.behavior.websocket.path


class Koi:
    """Koi ``index`` of a test: acts as user ``index``, on a schedule fixed by its seed.

    One task per koi: between actions it reads its websocket (with a timeout up to the next action),
    so an idle koi costs one task and one connection.
    """

    __slots__ = (
        "_channels",
        "_ctx",
        "_newest_ts",
        "_planned",
        "_rng",
        "_token",
        "_ws",
        "_ws_failures",
        "_ws_retry_at",
        "index",
    )

    def __init__(self, ctx: TestContext, index: int, token: str) -> None:
        self._ctx = ctx
        self.index = index
        self._token = token
        self._rng = koi_rng(ctx.test_id, index)
        own = workspace.koi_channels(index, ctx.behavior.channels.count_per_koi)
        self._channels = own or [workspace.ORG_WIDE_CHANNEL_ID]
        self._newest_ts: dict[str, str] = {}
        self._planned: dict[str, float] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_failures = 0
        self._ws_retry_at = 0.0

    async def swim(self) -> None:
        """Run until cancelled: join channels, hold the websocket, act on schedule."""
        try:
            await asyncio.sleep(startup_delay(self._rng, self._ctx.startup_spread_seconds))
            for channel in self._channels:
                await self._call(
                    "conversations.join", "POST", "/api/conversations.join", None, {"channel": channel}, time.time()
                )
            await self._act_forever()
        finally:
            await self._close_websocket()

    async def _act_forever(self) -> None:
        steady = SteadySchedule(self._ctx.behavior, self._rng)
        queue: list[tuple[float, int, ScheduledAction]] = []
        counter = 0
        now = time.time()
        first = steady.next_after(now)
        if first:
            heapq.heappush(queue, (first.at, counter, first))
        formation_due = self._push_formations(queue, now)
        while True:
            due = queue[0][0] if queue else now + 3600
            due = min(due, formation_due)
            await self._idle_until(due)
            now = time.time()
            if now >= formation_due:
                formation_due = self._push_formations(queue, now)
                continue
            if not queue:
                continue
            _, _, scheduled = heapq.heappop(queue)
            if scheduled.formation is None:
                following = steady.next_after(scheduled.at)
                if following:
                    counter += 1
                    heapq.heappush(queue, (following.at, counter, following))
            await self._perform(scheduled)

    def _push_formations(self, queue: list[tuple[float, int, ScheduledAction]], now: float) -> float:
        """Queue this koi's part in every formation's next firing; return when to look again."""
        look_again = now + 3600
        for name, formation in self._ctx.behavior.formations.items():
            fire_at = next_firing(formation, now)
            if fire_at is None:
                continue
            if fire_at - now <= 60:
                if self._planned.get(name) != fire_at:  # plan each firing once
                    self._planned[name] = fire_at
                    for item in formation_plan(name, formation, self.index, (self._ctx.test_id,), fire_at):
                        heapq.heappush(queue, (item.at, id(item), item))
                look_again = min(look_again, fire_at + 1)
            else:
                look_again = min(look_again, fire_at - 60)
        return look_again

    async def _idle_until(self, due: float) -> None:
        """Read websocket events until ``due``; keep (re)connecting it with backoff."""
        while (remaining := due - time.time()) > 0:
            ws = await self._ensure_websocket()
            if ws is None:
                await asyncio.sleep(min(remaining, max(0.0, self._ws_retry_at - time.time()) or remaining))
                continue
            try:
                # asyncio.timeout, not receive(timeout=): aiohttp restarts that one on every ping/pong,
                # which made idle koi oversleep their next action by seconds.
                async with asyncio.timeout(remaining):
                    message = await ws.receive()
            except TimeoutError:
                return
            if message.type == aiohttp.WSMsgType.TEXT:
                self._on_event(message.data)
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                self._ctx.metrics.ws_disconnects.inc()
                await self._close_websocket()
                self._schedule_reconnect()

    async def _ensure_websocket(self) -> aiohttp.ClientWebSocketResponse | None:
        settings = self._ctx.behavior.websocket
        if not settings.enabled:
            return None
        if self._ws is not None and not self._ws.closed:
            return self._ws
        if time.time() < self._ws_retry_at:
            return None
        try:
            self._ws = await self._ctx.web_api.open_websocket(
                self._ctx.websocket_url, self._token, settings.ping_interval_seconds
            )
        except (aiohttp.ClientError, OSError, TimeoutError):
            self._ctx.metrics.ws_connect_failures.inc()
            self._schedule_reconnect()
            return None
        self._ws_failures = 0
        self._ctx.metrics.ws_connects.inc()
        self._ctx.metrics.ws_connections.inc()
        return self._ws

    def _schedule_reconnect(self) -> None:
        """Exponential backoff with full jitter, between the behavior's reconnect bounds."""
        settings = self._ctx.behavior.websocket
        self._ws_failures += 1
        ceiling = min(settings.reconnect_max_seconds, settings.reconnect_min_seconds * 2 ** min(self._ws_failures, 16))
        self._ws_retry_at = time.time() + self._rng.uniform(
            settings.reconnect_min_seconds, max(ceiling, settings.reconnect_min_seconds)
        )

    async def _close_websocket(self) -> None:
        if self._ws is not None:
            ws, self._ws = self._ws, None
            self._ctx.metrics.ws_connections.dec()
            if not ws.closed:
                await ws.close()

    def _on_event(self, data: str) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            self._ctx.metrics.ws_events.labels("malformed").inc()
            return
        kind = event.get("type") if isinstance(event, dict) else None
        if kind not in ("hello", "message", "reaction_added"):
            kind = "other"
        self._ctx.metrics.ws_events.labels(kind).inc()
        if kind == "message":
            channel, ts = event.get("channel"), event.get("ts")
            if isinstance(channel, str) and isinstance(ts, str):
                self._newest_ts[channel] = ts
            sent = event.get("client_sent_at")
            if isinstance(sent, int | float) and event.get("user") != workspace.user_id(self.index):
                self._ctx.metrics.ws_lag.observe(max(0.0, time.time() - sent))

    async def _perform(self, scheduled: ScheduledAction) -> None:
        action = self._ctx.behavior.actions[scheduled.action]
        start = time.time()
        self._ctx.metrics.schedule_lag.observe(max(0.0, start - scheduled.at))
        channel = self._channel_for(scheduled)
        variables = self._variables(scheduled.action, channel)
        label = action.name_for_metrics or scheduled.action
        if variables is None:
            self._ctx.metrics.skipped.labels(self._ctx.metrics.method_label(label)).inc()
            return
        try:
            path = render_template(action.path, variables)
            params = {k: render_template(v, variables) for k, v in action.params.items()} or None
            body = render_json(action.body, variables) if action.body is not None else None
        except TemplateError:
            self._ctx.metrics.skipped.labels(self._ctx.metrics.method_label(label)).inc()
            return
        if isinstance(body, dict) and "channel" in body:
            body.setdefault("client_sent_at", start)
        await self._call(label, action.method, path, params, body, scheduled.at)

    async def _call(self, label: str, method: str, path: str, params: Any, body: Any, scheduled_at: float) -> None:
        outcome = await self._ctx.web_api.call(method, self._ctx.target + path, self._token, params, body)
        # Measured from the scheduled time: a slow target cannot hide behind a slowed-down koi.
        self._ctx.metrics.record_call(label, outcome.status, time.time() - scheduled_at)
        if outcome.body and isinstance(outcome.body.get("messages"), list) and outcome.body["messages"]:
            newest = outcome.body["messages"][0]
            if isinstance(newest, dict) and isinstance(newest.get("ts"), str) and isinstance(params, dict):
                self._newest_ts[params.get("channel", "")] = newest["ts"]

    def _channel_for(self, scheduled: ScheduledAction) -> str:
        if scheduled.formation is not None:
            formation = self._ctx.behavior.formations[scheduled.formation]
            if formation.channel == "org_wide":
                return workspace.ORG_WIDE_CHANNEL_ID
        return self._rng.choice(self._channels)

    def _variables(self, action_name: str, channel: str) -> dict[str, str] | None:
        """Values of the variables this action uses; None when it must be skipped (no message yet)."""
        used = self._ctx.variables_used[action_name]
        values: dict[str, str] = {}
        for name in used:
            value = self._value(name, channel)
            if value is None:
                return None
            values[name] = value
        return values

    def _value(self, name: str, channel: str) -> str | None:
        rng = self._rng
        match name:
            case "koi.index":
                return str(self.index)
            case "koi.id":
                return f"{self._ctx.test_id}:{self.index}"
            case "user.id":
                return workspace.user_id(self.index)
            case "user.name":
                return workspace.user_name(self.index)
            case "workspace":
                return self._ctx.workspace
            case "channel.id":
                return channel
            case "channel.name":
                return workspace.channel_name(channel)
            case "message.ts":
                return self._newest_ts.get(channel)
            case "random.int":
                return str(rng.randrange(1_000_000_000))
            case "random.uuid":
                return str(uuid.UUID(int=rng.getrandbits(128), version=4))
            case "random.text":
                return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
            case "now.ts":
                return f"{time.time():.6f}"
        return None
