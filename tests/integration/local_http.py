"""A throwaway aiohttp server on a loopback port, for tests of the koi's HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from local_pond.processes import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def local_server(handler: Handler, route: str = "/api/x") -> AsyncIterator[str]:
    """Serve ``handler`` on ``route`` (any method); yields the base URL, e.g. ``http://127.0.0.1:20001``."""
    app = web.Application()
    app.router.add_route("*", route, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)  # a handler left sleeping must not hold up the test
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
