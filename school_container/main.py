"""School entry point: wire the parts, serve metrics and probes, run until SIGTERM (then drain).

With one worker the koi swim in this process; with N (``KOIPOND_SCHOOL_WORKERS``, default the CPUs
the container may use) this process is their supervisor: it polls, and N worker processes host the koi.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from school_container.cpus import cpus_available
from school_container.descriptors import koi_room, raise_open_file_limit
from school_container.keeper_link import KeeperLink
from school_container.koi_host import KoiHost, KoiHosting
from school_container.koi_parts import s3_client, token_source, web_api_for
from school_container.memory import freeze_survivors, tune_collector
from school_container.metrics import SchoolMetrics
from school_container.school import School
from school_container.settings import SchoolSettings
from school_container.worker_pool import WorkerPool

__all__ = ["SchoolSettings", "koi_capacity", "probe_app", "run", "s3_client", "serve", "token_source", "web_api_for"]

log = logging.getLogger("koipond.school")
# With several workers, ``index % N`` gives a worker up to one koi more than an even share per range
# assigned; this much of each worker's room is kept for that.
SPLIT_SLACK = 32

Exposition = Callable[[], Awaitable[bytes]]
WorkerReport = Callable[[], list[dict[str, int | None]]]


def probe_app(school: School, exposition: Exposition, workers: WorkerReport | None = None) -> web.Application:
    """``/metrics`` for Prometheus (the whole School), ``/healthz`` (alive), ``/readyz`` (has heard from the Keeper).

    ``/healthz`` also lists the School's worker processes and their koi, when it has several.
    """

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=await exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        body: dict[str, object] = {"status": "ok", "koi": school.koi_count}
        if workers is not None:
            body["workers"] = workers()
        return web.json_response(body)

    async def readyz(_: web.Request) -> web.Response:
        ready = school.ready.is_set()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def koi_capacity(settings: SchoolSettings, open_file_limit: int, workers: int = 1) -> int:
    """The capacity to advertise: the configured one, lowered (and said so) if descriptors cannot hold it.

    Every worker is a process with its own open-file limit and HTTP pool, so the School's room is the
    sum of its workers' rooms.
    """
    room = koi_room(open_file_limit, settings.max_connections)
    if workers > 1:
        room = workers * max(0, room - SPLIT_SLACK)
    if settings.school_capacity <= room:
        return settings.school_capacity
    log.warning(
        "capacity lowered from %d to %d koi: the open-file limit is %d per process, %d worker(s), and HTTP may "
        "take %d per worker (KOIPOND_MAX_CONNECTIONS); each koi holds a websocket. Raise the container's nofile "
        "limit, add workers, or lower KOIPOND_SCHOOL_CAPACITY.",
        settings.school_capacity,
        room,
        open_file_limit,
        workers,
        settings.max_connections,
    )
    return room


def worker_count(settings: SchoolSettings) -> int:
    """``KOIPOND_SCHOOL_WORKERS``, or the CPUs this container may use."""
    return settings.school_workers or cpus_available()


@asynccontextmanager
async def koi_hosts(
    settings: SchoolSettings, metrics: SchoolMetrics, workers: int
) -> AsyncIterator[tuple[KoiHosting, Exposition]]:
    """Where the koi swim, and the School's exposition; on leaving, every koi is stopped (within the drain time).

    Args:
        settings: the School's settings.
        metrics: the School's own metrics (the poller's; with one worker, the koi's too).
        workers: 1 hosts koi in this process; more start that many worker processes.
    """
    registry = metrics.registry
    if workers > 1:
        pool = WorkerPool(workers, settings, registry)
        await pool.start()
        try:
            yield pool, pool.metrics
        finally:
            await pool.close()
        return

    async def exposition() -> bytes:
        return generate_latest(registry)

    web_api = web_api_for(settings)
    host = KoiHost(web_api, token_source(settings), metrics, settings.startup_spread_seconds)
    tune_collector()
    freezer = asyncio.create_task(freeze_survivors())
    try:
        yield host, exposition
    finally:
        freezer.cancel()
        await asyncio.wait_for(host.stop_all("drained"), timeout=settings.drain_seconds + 1)
        await web_api.close()


async def serve(settings: SchoolSettings) -> None:
    """Run one School until SIGTERM or SIGINT."""
    workers = worker_count(settings)
    capacity = koi_capacity(settings, raise_open_file_limit(), workers)
    link = KeeperLink(settings.keeper_url, settings.token.get_secret_value(), settings.school_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    metrics = SchoolMetrics()
    async with koi_hosts(settings, metrics, workers) as (hosts, exposition):
        school = School(link, hosts, metrics, capacity, settings.failsafe_seconds)
        report = hosts.describe if isinstance(hosts, WorkerPool) else None
        runner = web.AppRunner(probe_app(school, exposition, report), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
        log.info(
            "School %s polling %s (capacity %d, %d worker%s)",
            settings.school_id,
            settings.keeper_url,
            capacity,
            workers,
            "" if workers == 1 else "s",
        )
        try:
            await school.run(stop)
        finally:
            await link.close()
            await runner.cleanup()


def run(settings: SchoolSettings) -> None:
    """Run on uvloop (the fastest loop measured for koi traffic)."""
    import uvloop

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll drowns what matters
    uvloop.run(serve(settings))
