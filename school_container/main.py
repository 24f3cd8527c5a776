"""School entry point: wire the parts, serve metrics and probes, run until SIGTERM (then drain)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from koipond.aws_clients import boto3_client
from koipond.tokens.mint_origins import MintOrigins
from school_container.descriptors import koi_room, raise_open_file_limit
from school_container.keeper_link import KeeperLink
from school_container.memory import freeze_survivors, tune_collector
from school_container.metrics import SchoolMetrics
from school_container.school import School
from school_container.settings import SchoolSettings

__all__ = ["SchoolSettings", "run", "serve"]
from school_container.tokens import ChainedTokenSource, MintingTokenSource, S3ShardTokenSource, TokenSource
from school_container.web_api import NativeWebApi, ReqwestWebApi, WebApi

log = logging.getLogger("koipond.school")


def probe_app(school: School, metrics: SchoolMetrics) -> web.Application:
    """``/metrics`` for Prometheus, ``/healthz`` (alive) and ``/readyz`` (has heard from the Keeper)."""

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "koi": school.koi_count})

    async def readyz(_: web.Request) -> web.Response:
        ready = school.ready.is_set()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def token_source(settings: SchoolSettings) -> TokenSource:
    """The pipeline's shards when a bucket is configured, then minting when a target admin token is."""
    sources: list[tuple[str, TokenSource]] = []
    if settings.token_bucket:
        sources.append(("s3 shards", S3ShardTokenSource(settings.token_bucket, s3_client(settings))))
    if settings.target_admin_token:
        origins = MintOrigins.parse(settings.token_mint_origins)
        sources.append(("minting", MintingTokenSource(settings.target_admin_token.get_secret_value(), origins)))
    return ChainedTokenSource(sources)


def s3_client(settings: SchoolSettings) -> Any:
    """An S3 client with the School's own credentials (IRSA on EKS), or the embedded AWS locally."""
    return boto3_client("s3", settings.aws_endpoint, settings.aws_region)


def koi_capacity(settings: SchoolSettings, open_file_limit: int) -> int:
    """The capacity to advertise: the configured one, lowered (and said so) if descriptors cannot hold it."""
    room = koi_room(open_file_limit, settings.max_connections)
    if settings.school_capacity <= room:
        return settings.school_capacity
    log.warning(
        "capacity lowered from %d to %d koi: the open-file limit is %d and HTTP may take %d "
        "(KOIPOND_MAX_CONNECTIONS); each koi holds a websocket. Raise the container's nofile limit "
        "or lower KOIPOND_SCHOOL_CAPACITY.",
        settings.school_capacity,
        room,
        open_file_limit,
        settings.max_connections,
    )
    return room


def web_api_for(settings: SchoolSettings) -> WebApi:
    """The koi's HTTP client the settings choose (``KOIPOND_SCHOOL_HTTP_CLIENT``)."""
    if settings.school_http_client == "native":
        return NativeWebApi(settings.max_connections)
    return ReqwestWebApi(settings.max_connections)


async def serve(settings: SchoolSettings) -> None:
    """Run one School until SIGTERM or SIGINT."""
    capacity = koi_capacity(settings, raise_open_file_limit())
    metrics = SchoolMetrics()
    web_api = web_api_for(settings)
    link = KeeperLink(settings.keeper_url, settings.token.get_secret_value(), settings.school_id)
    school = School(
        link,
        web_api,
        token_source(settings),
        metrics,
        capacity,
        settings.failsafe_seconds,
        settings.startup_spread_seconds,
    )
    runner = web.AppRunner(probe_app(school, metrics), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("School %s polling %s (capacity %d)", settings.school_id, settings.keeper_url, capacity)
    tune_collector()
    freezer = asyncio.create_task(freeze_survivors())
    try:
        await school.run(stop)
    finally:
        freezer.cancel()
        await asyncio.wait_for(school.stop_everything("drained"), timeout=settings.drain_seconds + 1)
        await link.close()
        await web_api.close()
        await runner.cleanup()


def run(settings: SchoolSettings) -> None:
    """Run on uvloop (the fastest loop measured for koi traffic)."""
    import uvloop

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll drowns what matters
    uvloop.run(serve(settings))
