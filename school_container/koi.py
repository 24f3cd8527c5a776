"""A koi: one simulated user with its own token, websocket and behavior.

A koi is one task that holds its websocket; its actions are due on the School-wide ``KoiClock``,
which starts a short-lived task only when one is due (so an idle koi costs one task, one connection,
and one entry in a heap).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from koipond import workspace
from koipond.models.behavior import BehaviorDocument
from koipond.models.templates import TemplateError
from koipond.services.scheduling import (
    ScheduledAction,
    SteadySchedule,
    formation_plan,
    koi_rng,
    next_firing,
    startup_delay,
)
from school_container.metrics import SchoolMetrics
from school_container.prepared import KoiFacts, PreparedAction, prepare_actions, variable_values
from school_container.timers import KoiClock, Timer
from school_container.web_api import WebApi, json_object, raise_if_stopping
from school_container.websocket import KoiSocket
from school_container.websocket_frames import WebsocketError

JOIN_LABEL = "conversations.join"
"""The method label of the channel joins every koi makes before its first action."""


@dataclass
class LoadTestContext:
    """What every koi of one test on this School shares (built once per assignment)."""

    test_id: str
    workspace: str
    target: str
    behavior: BehaviorDocument
    web_api: WebApi
    metrics: SchoolMetrics
    startup_spread_seconds: float
    clock: KoiClock = field(default_factory=KoiClock)
    actions: dict[str, PreparedAction] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.actions = prepare_actions(self.behavior)

    @property
    def websocket_url(self) -> str:
        base = self.target.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return base.rstrip("/") + self.behavior.websocket.path


_Queue = list[tuple[float, int, ScheduledAction]]


def _odd_event_kind(data: bytes) -> str | None:
    """The event type to count for a websocket message that is not a JSON object: "malformed" if it is not
    JSON at all, else None (counted as "other"), as json.loads tells them apart."""
    try:
        json.loads(data)
    except ValueError:
        return "malformed"
    return None


class Koi:
    """Koi ``index`` of a test: acts as user ``index``, on a schedule fixed by its seed.

    Actions run one at a time in due order (a koi is one user); when one is still running as the
    next falls due, the next starts right after it and its latency still counts from its own
    scheduled time, so an overloaded School or target shows up as latency, never as fewer calls.
    """

    __slots__ = (
        "_channels",
        "_ctx",
        "_error",
        "_formation_due",
        "_newest_ts",
        "_order",
        "_planned",
        "_queue",
        "_rng",
        "_runner",
        "_steady",
        "_task",
        "_timer",
        "_token",
        "_ws",
        "_ws_failures",
        "_ws_retry_at",
        "index",
    )

    def __init__(self, ctx: LoadTestContext, index: int, token: str) -> None:
        self._ctx = ctx
        self.index = index
        self._token = token
        self._rng = koi_rng(ctx.test_id, index)
        own = workspace.koi_channels(index, ctx.behavior.channels.count_per_koi)
        self._channels = own or [workspace.ORG_WIDE_CHANNEL_ID]
        self._newest_ts: dict[str, str] = {}
        self._planned: dict[str, float] = {}
        self._queue: _Queue = []
        self._order = 0
        self._formation_due = math.inf
        self._steady: SteadySchedule | None = None
        self._timer: Timer[Any] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._error: BaseException | None = None
        self._ws: KoiSocket | None = None
        self._ws_failures = 0
        self._ws_retry_at = 0.0

    async def swim(self) -> None:
        """Run until cancelled: join channels, then act on schedule while holding the websocket."""
        self._task = asyncio.current_task()
        try:
            await asyncio.sleep(startup_delay(self._rng, self._ctx.startup_spread_seconds))
            for channel in self._channels:
                await self._call(JOIN_LABEL, "POST", "/api/conversations.join", None, {"channel": channel}, time.time())
            self._start_schedule()
            await self._hold_websocket()
        except asyncio.CancelledError:
            if self._error is not None:  # an action failed: end as a crash, not as a stop
                raise self._error from None
            raise
        finally:
            runner = self._runner
            self._stop_schedule()
            self._task = None
            if runner is not None:
                # Its call is cancelled too: no call of this koi outlives the koi's stop.
                await asyncio.wait([runner])
            await self._close_websocket()

    # --- actions, on the School-wide clock ------------------------------------------------------------

    def _start_schedule(self) -> None:
        now = time.time()
        self._steady = SteadySchedule(self._ctx.behavior, self._rng)
        first = self._steady.next_after(now)
        if first:
            self._push(first)
        self._formation_due = self._push_formations(now)
        self._arm()

    def _stop_schedule(self) -> None:
        self._steady = None  # also tells a runner finishing now not to re-arm
        if self._timer is not None:
            self._ctx.clock.cancel(self._timer)
            self._timer = None
        if self._runner is not None:
            self._runner.cancel()

    def _push(self, scheduled: ScheduledAction) -> None:
        self._order += 1
        heapq.heappush(self._queue, (scheduled.at, self._order, scheduled))

    def _arm(self) -> None:
        """Put this koi's earliest due time (next action or formation look-ahead) on the clock."""
        if self._steady is None or self._runner is not None:
            return
        due = min(self._queue[0][0], self._formation_due) if self._queue else self._formation_due
        if due < math.inf:
            self._timer = self._ctx.clock.call_at(due, self._on_due)

    def _on_due(self) -> None:
        self._timer = None
        if self._steady is not None and self._runner is None:
            self._runner = asyncio.create_task(self._run_due())
            self._runner.add_done_callback(self._runner_done)

    async def _run_due(self) -> None:
        """Perform every action due by now, one after the other, then wait on the clock again."""
        queue = self._queue
        while self._steady is not None:
            now = time.time()
            if now >= self._formation_due:
                self._formation_due = self._push_formations(now)
            if not queue or queue[0][0] > now:
                return
            scheduled = heapq.heappop(queue)[2]
            if scheduled.formation is None:
                following = self._steady.next_after(scheduled.at)
                if following:
                    self._push(following)
            await self._perform(scheduled, now)

    def _runner_done(self, runner: asyncio.Task[None]) -> None:
        self._runner = None
        if runner.cancelled():
            return
        error = runner.exception()
        if error is not None:
            # A bug in an action ends the koi the way a bug in swim() would: the School logs a crash and
            # restarts it at the next poll.
            self._error = error
            if self._task is not None:
                self._task.cancel()
            return
        self._arm()

    def _push_formations(self, now: float) -> float:
        """Queue this koi's part in every formation's next firing; return when to look again."""
        if not self._ctx.behavior.formations:
            return math.inf  # never: no clock entry (nor wake-up) for a koi with nothing to plan
        look_again = now + 3600
        for name, formation in self._ctx.behavior.formations.items():
            fire_at = next_firing(formation, now)
            if fire_at is None:
                continue
            if fire_at - now <= 60:
                if self._planned.get(name) != fire_at:  # plan each firing once
                    self._planned[name] = fire_at
                    for item in formation_plan(name, formation, self.index, (self._ctx.test_id,), fire_at):
                        self._push(item)
                look_again = min(look_again, fire_at + 1)
            else:
                look_again = min(look_again, fire_at - 60)
        return look_again

    # --- the websocket: held by the koi's own task, its events handed to _on_event by the socket -------

    async def _hold_websocket(self) -> None:
        """Until cancelled: keep the websocket open, reconnecting with backoff.

        Events never pass through this task: the socket hands each one to ``_on_event`` as it arrives,
        so this task sleeps until the connection ends.
        """
        if not self._ctx.behavior.websocket.enabled:
            await asyncio.get_running_loop().create_future()  # nothing to read: wait for the cancel
        while True:
            # Every reconnect waits out its backoff, after a refused connect and after a dropped line
            # alike: a target that accepts and then drops at once must not get a tight loop of them.
            await asyncio.sleep(max(0.0, self._ws_retry_at - time.time()))
            raise_if_stopping()  # a stop some library swallowed must not turn into a reconnect
            socket = await self._connect()
            if socket is None:
                continue
            connected_at = time.time()
            # Shielded: a stop cancels this wait, not the socket's own future, so close() still sees it open.
            await asyncio.shield(socket.ended)
            self._ctx.metrics.ws_disconnects.inc()
            await self._close_websocket()
            if time.time() - connected_at >= self._ctx.behavior.websocket.reconnect_max_seconds:
                self._ws_failures = 0  # it held for a while: start the backoff again from its minimum
            self._schedule_reconnect()

    async def _connect(self) -> KoiSocket | None:
        settings = self._ctx.behavior.websocket
        try:
            self._ws = await self._ctx.web_api.open_websocket(
                self._ctx.websocket_url, self._token, settings.ping_interval_seconds, self._on_event
            )
        except (WebsocketError, OSError, TimeoutError):
            raise_if_stopping()
            self._ctx.metrics.ws_connect_failures.inc()
            self._schedule_reconnect()
            return None
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
            await ws.close()

    def _on_event(self, data: bytes) -> None:
        metrics = self._ctx.metrics
        event = json_object(data)  # an event is a JSON object: scanned without json.loads' layers
        if event is None:
            metrics.ws_event(_odd_event_kind(data)).inc()
            return
        kind = event.get("type")
        metrics.ws_event(kind).inc()
        if kind == "message":
            channel, ts = event.get("channel"), event.get("ts")
            if isinstance(channel, str) and isinstance(ts, str):
                self._newest_ts[channel] = ts
            sent = event.get("client_sent_at")
            if isinstance(sent, int | float) and event.get("user") != workspace.user_id(self.index):
                metrics.ws_lag.observe(max(0.0, time.time() - sent))

    async def _perform(self, scheduled: ScheduledAction, start: float) -> None:
        """Make the call of ``scheduled``, which starts at ``start`` (now, Unix seconds)."""
        action = self._ctx.actions[scheduled.action]
        self._ctx.metrics.schedule_lag.observe(max(0.0, start - scheduled.at))
        if action.variables:
            facts = KoiFacts(
                self._ctx.test_id, self._ctx.workspace, self.index, self._channel_for(scheduled), self._newest_ts
            )
            variables = variable_values(action.variables, facts, self._rng)
            try:
                rendered = None if variables is None else action.render(variables)
            except TemplateError:
                rendered = None
            if rendered is None:
                self._ctx.metrics.skipped.labels(self._ctx.metrics.method_label(action.label)).inc()
                return
            path, params, body = rendered
        else:
            path, params, body = action.path, action.params, action.body
        if isinstance(body, dict) and "channel" in body and "client_sent_at" not in body:
            body = {**body, "client_sent_at": start}  # a copy: a static body is shared by every koi
        await self._call(action.label, action.method, path, params, body, scheduled.at)

    async def _call(self, label: str, method: str, path: str, params: Any, body: Any, scheduled_at: float) -> None:
        outcome = await self._ctx.web_api.call(method, self._ctx.target + path, self._token, params, body)
        # Measured from the scheduled time: a slow target cannot hide behind a slowed-down koi.
        self._ctx.metrics.record_call(label, outcome.status, time.time() - scheduled_at)
        answer = outcome.body
        if answer and isinstance(params, dict) and isinstance(messages := answer.get("messages"), list) and messages:
            newest = messages[0]
            if isinstance(newest, dict) and isinstance(newest.get("ts"), str):
                self._newest_ts[params.get("channel", "")] = newest["ts"]

    def _channel_for(self, scheduled: ScheduledAction) -> str:
        if scheduled.formation is not None:
            formation = self._ctx.behavior.formations[scheduled.formation]
            if formation.channel == "org_wide":
                return workspace.ORG_WIDE_CHANNEL_ID
        return self._rng.choice(self._channels)
