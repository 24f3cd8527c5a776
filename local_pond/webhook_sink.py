"""A local stand-in for Slack's webhooks: records every request and answers as scripted (tests, demo).

``POST`` (or any method) to any path outside ``/_sink`` is recorded and answered: by default ``200 ok``;
``POST /_sink/script`` with ``{"path": "/hooks/a", "answers": [{"status": 429, "headers": {"Retry-After": "1"}},
{"status": 200}]}`` queues answers for a path, used in order. ``PUT /_sink/outage`` with ``{"status": 503}``
makes every path answer that (Slack down) until ``DELETE /_sink/outage``; :meth:`WebhookSink.stop_listening`
makes it unreachable. ``GET /_sink/requests`` lists what came in; ``GET /_sink/receipts`` counts the
successful receipts per path and notification key (the ``Idempotency-Key`` header the deliverer sends);
``DELETE /_sink/requests`` forgets it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

# The deliverer names each notification in this header, so a receiver (this sink, a proxy) can count repeats.
KEY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it is not JSON
    received_at: float  # time.time() on arrival
    answered: int


class SinkState:
    """What the sink saw and will answer; shared by the server and the thread that drives a test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[ReceivedRequest] = []
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._outage: Answer | None = None

    def script(self, path: str, answers: list[Answer]) -> None:
        with self._lock:
            self._scripts[path].extend(answers)

    def outage(self, answer: Answer | None) -> None:
        """Answer every path with ``answer`` (e.g. a 503: Slack down) until called with None; scripts wait."""
        with self._lock:
            self._outage = answer

    def next_answer(self, path: str) -> Answer:
        with self._lock:
            if self._outage is not None:
                return self._outage
            queue = self._scripts.get(path)
            return queue.popleft() if queue else Answer()

    def record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._received.append(request)

    def received(self, path: str | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def receipts(self, path: str | None = None) -> Counter[str]:
        """How many times each notification key was received and answered 2xx (what Slack would have posted)."""
        return Counter(_header(r, KEY_HEADER) for r in self.received(path) if 200 <= r.answered < 300)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._scripts.clear()
            self._outage = None


def _header(request: ReceivedRequest, name: str) -> str:
    return next((value for key, value in request.headers.items() if key.lower() == name.lower()), "")


def build_app(state: SinkState) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        text = await request.text()
        try:
            body: Any = json.loads(text) if text else None
        except json.JSONDecodeError:
            body = text
        answer = state.next_answer(request.path)
        received = ReceivedRequest(
            request.method, request.path, dict(request.headers), body, time.time(), answer.status
        )
        state.record(received)
        return web.Response(status=answer.status, headers=answer.headers, text=answer.body)

    async def list_requests(request: web.Request) -> web.Response:
        return web.json_response([asdict(r) for r in state.received(request.query.get("path"))])

    async def clear_requests(_: web.Request) -> web.Response:
        state.clear()
        return web.json_response({"cleared": True})

    async def script(request: web.Request) -> web.Response:
        try:
            document = await request.json()
            answers = [
                Answer(int(a["status"]), dict(a.get("headers", {})), str(a.get("body", "")))
                for a in document["answers"]
            ]
            path = str(document["path"])
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response(
                {"error": f"expected {{path, answers: [{{status, headers?, body?}}]}}: {exc}"}, status=400
            )
        state.script(path, answers)
        return web.json_response({"scripted": len(answers), "path": path})

    async def start_outage(request: web.Request) -> web.Response:
        try:
            status = int((await request.json())["status"])
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"expected {{status}}: {exc}"}, status=400)
        state.outage(Answer(status, body="upstream unavailable"))
        return web.json_response({"outage": status})

    async def end_outage(_: web.Request) -> web.Response:
        state.outage(None)
        return web.json_response({"outage": None})

    async def receipts(request: web.Request) -> web.Response:
        paths = sorted({r.path for r in state.received(request.query.get("path"))})
        return web.json_response({path: dict(state.receipts(path)) for path in paths})

    app = web.Application()
    app.router.add_get("/_sink/requests", list_requests)
    app.router.add_delete("/_sink/requests", clear_requests)
    app.router.add_post("/_sink/script", script)
    app.router.add_put("/_sink/outage", start_outage)
    app.router.add_delete("/_sink/outage", end_outage)
    app.router.add_get("/_sink/receipts", receipts)
    app.router.add_get("/healthz", _ok)
    app.router.add_route("*", "/{tail:(?!_sink/).*}", hook)
    return app


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="ok")


class WebhookSink:
    """The sink on a background thread with its own event loop: ``with WebhookSink() as sink: sink.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = SinkState()
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="webhook-sink", daemon=True)
        self.url = ""

    def start(self) -> WebhookSink:
        self._thread.start()
        self.listen()
        return self

    def listen(self) -> None:
        """Accept connections (again) on the same address: after :meth:`stop_listening`, Slack is back."""
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop_listening(self) -> None:
        """Close the port, so posts fail to connect (Slack unreachable); what was received is kept."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._runner = None

    async def _start(self) -> None:
        self._runner = web.AppRunner(build_app(self.state), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{self._host}:{self._port}"

    def stop(self) -> None:
        self.stop_listening()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve(host: str, port: int) -> None:
    """Run the sink in the foreground until interrupted (``koipond webhook-sink``)."""
    web.run_app(build_app(SinkState()), host=host, port=port, access_log=None, print=None)
