"""``koipond run``'s engine: koi swim in this process through a School's own koi host, measured as they go.

No Keeper: the run is one :class:`KoiOrder` built here and applied every few seconds, as a School's
poll would apply the Keeper's answer (so a koi that crashed starts again). What the koi measure goes
to a School's metrics, which :class:`RunMetrics` also keeps as counts and latency digests for the
run's own summary and thresholds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from koipond.api.poll import BehaviorRef, LoadTestSpec
from koipond.aws_clients import boto3_client
from koipond.models.behavior import BehaviorDocument
from koipond.models.run_stats import RunStats
from koipond.tokens.mint_origins import MintOrigins, origin_of
from koipond_cli.run_metrics import RunMetrics, action_labels
from school_container.descriptors import koi_room, raise_open_file_limit
from school_container.file_tokens import FileTokenSource
from school_container.koi_host import STOP_TIMEOUT_SECONDS, KoiHost
from school_container.koi_host import log as host_log
from school_container.memory import freeze_survivors, tune_collector
from school_container.metrics import SchoolMetrics
from school_container.orders import KoiOrder
from school_container.tokens import MintingTokenSource, S3ShardTokenSource, TokenSource, TokenUnavailableError
from school_container.web_api import NativeWebApi, WebApi

APPLY_EVERY_SECONDS = 5.0
TICK_SECONDS = 1.0
# KoiHost stops each lane within STOP_TIMEOUT_SECONDS; the HTTP client and the metrics server close after.
STOP_BOUND_SECONDS = STOP_TIMEOUT_SECONDS + 5


class RunSetupError(Exception):
    """The run cannot start (no tokens, a port in use...); nothing swam. The message is one line for a person."""


# --- what the run is, and where its tokens come from ------------------------------------------------------


@dataclass(frozen=True)
class RunPlan:
    """One ``koipond run``: ``koi`` koi of ``behavior`` against ``target`` for ``duration_seconds``."""

    run_id: str
    behavior_name: str
    behavior: BehaviorDocument
    target: str
    workspace: str
    koi: int
    duration_seconds: float
    ramp_seconds: float
    max_connections: int = 2000

    def order(self) -> KoiOrder:
        """The one order a School would get from the Keeper for this run (koi 0 to koi-1, behavior version 1)."""
        spec = LoadTestSpec(
            test_id=self.run_id,
            test_name=self.behavior_name,
            behavior=BehaviorRef(name=self.behavior_name, version=1),
            target=self.target,
            workspace=self.workspace,
            tags=[],
        )
        return KoiOrder(self.run_id, ((0, self.koi),), spec, self.behavior)


@dataclass(frozen=True)
class TokenOptions:
    """Where tokens may come from; the first given of a file, the shards and minting is used."""

    file: Path | None = None
    admin_token: str | None = field(default=None, repr=False)
    bucket: str | None = None
    aws_endpoint: str | None = None
    aws_region: str = "us-east-1"

    @property
    def given(self) -> bool:
        return bool(self.file or self.admin_token or self.bucket)


def token_source(options: TokenOptions, target: str) -> TokenSource:
    """The first source ``options`` name; minting sends the admin token to ``target``'s origin only.

    One source, never a chain: a tokens file that is short of tokens is a mistake to report, not a reason
    to mint (an admin token set in the environment would otherwise hide it).

    Raises:
        TokenFileError: the tokens file is not tokens. OSError: it cannot be read.
        ValueError: no source is given, or ``target`` is not an http(s) URL (needed to mint).
    """
    if options.file is not None:
        return FileTokenSource.from_file(options.file)
    if options.bucket:
        return S3ShardTokenSource(options.bucket, boto3_client("s3", options.aws_endpoint, options.aws_region))
    if options.admin_token:
        origins = MintOrigins(frozenset({origin_of(target)}))
        return MintingTokenSource(options.admin_token, origins)
    raise ValueError("no token source given")


async def fetch_tokens(source: TokenSource, plan: RunPlan) -> FileTokenSource:
    """Every koi's token, fetched once before any koi swims and held for the koi host (a restarted koi asks it).

    Raises:
        RunSetupError: some tokens cannot be had; the message says why and how many (never a token).
    """
    try:
        tokens = await source.tokens_for(plan.target, plan.workspace, range(plan.koi))
    except TokenUnavailableError as exc:
        raise RunSetupError(f"cannot get tokens for {plan.koi} koi: {exc}") from exc
    return FileTokenSource(tokens, plan.workspace)


def descriptor_room(plan: RunPlan) -> int:
    """Koi that fit under this process's open-file limit (raised to its hard limit), beside the HTTP pool."""
    return koi_room(raise_open_file_limit(), plan.max_connections)


# --- the run ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsEndpoint:
    host: str
    port: int


@dataclass(frozen=True)
class RunPace:
    """How often the run reports (the live view's second) and applies its order again (a School's poll)."""

    tick_seconds: float = TICK_SECONDS
    apply_every_seconds: float = APPLY_EVERY_SECONDS


@dataclass(frozen=True)
class RunOutcome:
    """How the run went: the final stats, and whether (and why) it stopped before its time."""

    stats: RunStats
    stopped_early: bool
    stop_reason: str | None


OnTick = Callable[[RunStats], None]
OnServing = Callable[[str], None]


async def run_load(
    plan: RunPlan,
    tokens: TokenSource,
    on_tick: OnTick,
    metrics_endpoint: MetricsEndpoint | None = None,
    on_serving: OnServing | None = None,
    web_api: WebApi | None = None,
    pace: RunPace = RunPace(),
) -> RunOutcome:
    """Swim ``plan``'s koi until its time is up or SIGINT/SIGTERM, then stop them (bounded) and report.

    Args:
        plan: the run.
        tokens: the koi's tokens (fetched already: see :func:`fetch_tokens`).
        on_tick: called about once a second with the stats so far.
        metrics_endpoint: where to serve the School's Prometheus exposition at /metrics while running.
        on_serving: told the URL of /metrics once it is served.
        web_api: the koi's client; default a School's own (``NativeWebApi``), closed at the end either way.
        pace: how often to report and to apply the order again.

    Raises:
        RunSetupError: the metrics endpoint cannot listen; no koi swam.
    """
    metrics = RunMetrics(action_labels(plan.behavior))
    runner = await _serve_metrics(metrics, metrics_endpoint, on_serving) if metrics_endpoint else None
    web_api = web_api or NativeWebApi(plan.max_connections)
    host = KoiHost(web_api, tokens, metrics, plan.ramp_seconds)
    tune_collector()
    freezer = asyncio.create_task(freeze_survivors())
    stop = _StopSignal()
    started = time.monotonic()
    quiet_stop = _QuietStop()
    host_log.addFilter(quiet_stop)
    try:
        # Installed until every koi has stopped: a second Ctrl-C during the (bounded) stop changes nothing.
        with stop.installed():
            try:
                await _swim(plan, host, metrics, on_tick, stop, started, pace)
            finally:
                ended = min(time.monotonic() - started, plan.duration_seconds)
                reason = f"stopped early ({stop.reason})" if stop.reason else "the run is over"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(host.stop_all(reason), timeout=STOP_BOUND_SECONDS)
    finally:
        host_log.removeFilter(quiet_stop)
        freezer.cancel()
        await web_api.close()
        if runner is not None:
            await runner.cleanup()
    return RunOutcome(metrics.snapshot(ended, host.koi_count), stop.reason is not None, stop.reason)


async def _swim(
    plan: RunPlan, host: KoiHost, metrics: RunMetrics, on_tick: OnTick, stop: _StopSignal, started: float, pace: RunPace
) -> None:
    order = plan.order()
    await host.apply([order])
    applied = started
    ticks = 0
    while not stop.event.is_set():
        ticks += 1
        due = min(started + ticks * pace.tick_seconds, started + plan.duration_seconds)
        await stop.wait_until(due)
        elapsed = time.monotonic() - started
        on_tick(metrics.snapshot(min(elapsed, plan.duration_seconds), host.koi_count))
        if elapsed >= plan.duration_seconds:
            return
        if time.monotonic() - applied >= pace.apply_every_seconds:
            await host.apply([order])  # a koi that crashed is forgotten by the host; this starts it again
            applied = time.monotonic()


class _QuietStop(logging.Filter):
    """Drops the koi host's "stopping all koi" warning: the run's summary says when and why the koi stopped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("stopping all")


class _StopSignal:
    """SIGINT and SIGTERM end the run early (the koi are then stopped, and the summary still printed)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason: str | None = None

    def _received(self, signum: signal.Signals) -> None:
        if self.reason is None:
            self.reason = signum.name
        self.event.set()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for signum in signals:
            loop.add_signal_handler(signum, self._received, signum)
        try:
            yield
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    async def wait_until(self, monotonic_deadline: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout=max(0.0, monotonic_deadline - time.monotonic()))


async def _serve_metrics(
    metrics: SchoolMetrics, endpoint: MetricsEndpoint, on_serving: OnServing | None
) -> web.AppRunner:
    """Serve ``/metrics`` (as a School's probe server does) at ``endpoint``; port 0 takes any free one."""

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, endpoint.host, endpoint.port).start()
    except OSError as exc:
        await runner.cleanup()
        raise RunSetupError(f"cannot serve metrics on {endpoint.host}:{endpoint.port}: {exc.strerror or exc}") from exc
    if on_serving is not None:
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in str(host) else host
        on_serving(f"http://{shown}:{port}/metrics")
    return runner
