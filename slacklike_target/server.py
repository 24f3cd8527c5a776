"""Serving the target: one process, on uvloop when it is installed, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from slacklike_target.app import build_app
from slacklike_target.context import TargetConfig

# Thousands of koi connect at once when a test starts; the default backlog (128) drops SYNs.
LISTEN_BACKLOG = 4096
SHUTDOWN_TIMEOUT_SECONDS = 5.0


async def serve(config: TargetConfig, host: str, port: int, ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM; ``ready`` gets the base URL once listening (port 0: any free port)."""
    runner = web.AppRunner(build_app(config), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG)
        await site.start()
        if ready is not None:
            ready(_base_url(runner, host, port))
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runner.cleanup()


def _base_url(runner: web.AppRunner, host: str, port: int) -> str:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            port = int(address[1])
            break
    return f"http://{host}:{port}"


def run_forever(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when it is installed (fewer microseconds per event), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)
