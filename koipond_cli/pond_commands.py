"""``koipond aws``, ``keeper``, ``up`` and ``demo``: run the pond's processes on this machine."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from koipond import envvars
from koipond.settings import get_settings
from koipond_cli.context import console, err_console
from koipond_cli.options import listen_options, state_dir_option
from local_pond.aws_state import SNAPSHOT_SECONDS
from local_pond.lambda_runtime import DEFAULT_WORKERS
from local_pond.pond import ADMIN_TOKEN_FILE, LocalPond, PondConfig, stored_admin_token
from local_pond.processes import free_port

STATE_DIR_HELP = "Where the pond keeps its state (the embedded AWS's, in aws/), logs and Prometheus data."
EPHEMERAL_HELP = "Keep the embedded AWS's state in memory only: a restart starts from an empty pond."


@click.command("aws")
@listen_options(4566, host_help="Address to listen on (loopback only).")
@click.option(
    "--allow-non-loopback",
    is_flag=True,
    help="Listen on a --host other machines can reach. Unsafe: it holds every key and test.",
)
@state_dir_option(".pond", "Keep the state in STATE_DIR/aws/ (a snapshot and a journal) and restore it on start.")
@click.option("--ephemeral", is_flag=True, help=EPHEMERAL_HELP)
@click.option(
    "--snapshot-every",
    type=click.FloatRange(0.5, 86_400),
    default=SNAPSHOT_SECONDS,
    show_default=True,
    help="Seconds between snapshots while things change (longer for a big state); the journal covers the rest.",
)
def aws_command(
    host: str, port: int, allow_non_loopback: bool, state_dir: Path, ephemeral: bool, snapshot_every: float
) -> None:
    """Run the embedded AWS (moto server) and provision the table, token queues, KMS key and bucket.

    Only requests signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are served (a new pair is made
    and printed when they are unset); requests from web pages are refused. The state (tests, keys,
    behaviors, history, queues, token shards) is kept in STATE_DIR/aws/ and restored on start: nothing is
    lost on a clean stop, and after a kill -9 nothing acknowledged but SQS receives and deletes of the
    last few seconds (a message may be delivered again). With --ephemeral it lives in this process only.
    """
    import os

    from local_pond.aws import ProvisionedResources, serve
    from local_pond.aws_guard import AwsKeyPair, is_loopback
    from local_pond.aws_state import RestoreReport

    if not is_loopback(host):
        if not allow_non_loopback:
            raise click.BadParameter(
                f"{host} is not a loopback address: anyone who reaches it could try this pond's keys and data; "
                "use 127.0.0.1, or --allow-non-loopback if you must",
                param_hint="--host",
            )
        err_console.print(f"[yellow]warning:[/] the embedded AWS listens on {host}, reachable from other machines")
    key_pair = AwsKeyPair.from_env(os.environ)
    if key_pair is None:
        key_pair = AwsKeyPair.generate()
        os.environ.update(key_pair.as_env())  # this process's own clients (provisioning) sign with it too
        console.print("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY were unset; components must sign with this new pair:")
        console.print(f"  export {' '.join(f'{name}={value}' for name, value in key_pair.as_env().items())}")
    aws_dir = None if ephemeral else state_dir / "aws"

    def restored(report: RestoreReport) -> None:
        console.print(
            f"state restored from {aws_dir} in {report.seconds:.2f}s: snapshot of {report.snapshot_bytes:,} bytes, "
            f"{report.replayed} journaled requests replayed ({report.failed} refused, {report.torn} torn skipped)"
        )

    def ready(resources: ProvisionedResources) -> None:
        kept = "in memory only" if aws_dir is None else f"state kept in {aws_dir}"
        console.print(
            f"embedded AWS ready at http://{host}:{port} for access key {key_pair.access_key_id}: "
            f"table {resources.table}, queue {resources.queue_url}, bucket {resources.bucket}; {kept}"
        )

    try:
        serve(
            get_settings(),
            host,
            port,
            key_pair,
            ready,
            state_dir=aws_dir,
            on_restored=restored,
            snapshot_seconds=snapshot_every,
        )
    except RuntimeError as exc:  # e.g. another embedded AWS holds the state dir
        raise click.ClickException(str(exc)) from exc


@click.command("keeper")
@listen_options(8700)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Requests served at once: worker processes, each like one Lambda execution environment.",
)
def keeper_command(host: str, port: int, workers: int) -> None:
    """Serve the Keeper API Lambda over HTTP, one API Gateway v2 event per request.

    Reads KOIPOND_AWS_ENDPOINT (the embedded AWS, reached with the key pair in AWS_ACCESS_KEY_ID /
    AWS_SECRET_ACCESS_KEY) and KOIPOND_ADMIN_TOKEN (bootstrap admin).
    """
    from local_pond.keeper_server import serve_keeper
    from local_pond.lambda_worker import HandlerFailedError

    if not get_settings().aws_endpoint:
        err_console.print(f"note: {envvars.AWS_ENDPOINT} is unset, so the Keeper uses real AWS")
    try:
        serve_keeper(host, port, workers)
    except HandlerFailedError as exc:
        raise click.ClickException(f"the Keeper's workers could not start: {exc}") from exc


@click.command("up")
@click.option("--aws-port", type=int, default=4566, show_default=True, help="Embedded AWS port (0: any free port).")
@click.option("--keeper-port", type=int, default=8700, show_default=True, help="Keeper port (0: any free port).")
@click.option("--target-port", type=int, default=8800, show_default=True, help="Bundled target port (0: any).")
@click.option("--schools", type=click.IntRange(0, 64), default=2, show_default=True, help="School processes to run.")
@click.option("--capacity", type=click.IntRange(0, 1_000_000), default=5000, show_default=True, help="koi per School.")
@click.option(
    "--school-workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes per School hosting its koi (see koipond school --workers); one keeps a laptop quiet.",
)
@state_dir_option(".pond", STATE_DIR_HELP)
@click.option("--ephemeral", is_flag=True, help=EPHEMERAL_HELP)
@click.option(
    "--poll-interval", type=click.FloatRange(0.2, 300), default=5.0, show_default=True, help="School poll interval, s."
)
@click.option("--prometheus-port", type=int, default=9090, show_default=True, help="Prometheus port (0: any).")
@click.option(
    "--guard-every", type=click.FloatRange(1, 3600), default=60, show_default=True, help="Guard period, seconds."
)
@click.option(
    "--tick-every",
    type=click.FloatRange(1, 3600),
    default=10,
    show_default=True,
    help="Release tick period (rollouts, deploy verdicts, notifications), seconds.",
)
@click.option(
    "--notifications",
    "notifications_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Notification routes (the secret's JSON, see docs/notifications.md): Slack webhooks to post to.",
)
def up_command(
    aws_port: int,
    keeper_port: int,
    target_port: int,
    schools: int,
    capacity: int,
    school_workers: int,
    state_dir: Path,
    ephemeral: bool,
    poll_interval: float,
    prometheus_port: int,
    guard_every: float,
    tick_every: float,
    notifications_file: Path | None,
) -> None:
    """Start a local pond and keep it running until Ctrl-C.

    Runs the embedded AWS, the Keeper, the bundled Slack-like target, Prometheus (scraping the target
    and every School), N Schools, the shutdown guard and the release tick, each as its own process. Prints the URLs and
    an admin token: KOIPOND_ADMIN_TOKEN if set, else the one kept in STATE_DIR/admin-token (made on first start).

    The embedded AWS keeps its state in STATE_DIR/aws/, so a pond started again with the same --state-dir has
    every test, key, behavior and history event: none lost after Ctrl-C, and after a kill -9 nothing
    acknowledged but SQS receives and deletes of the last few seconds. --ephemeral: memory only, a new
    random admin token each start.
    """
    settings = get_settings()
    config = PondConfig(
        aws_port=aws_port or free_port(),
        keeper_port=keeper_port or free_port(),
        target_port=target_port or free_port(),
        schools=schools,
        school_capacity=capacity,
        school_workers=school_workers,
        with_target=True,
        state_dir=state_dir,
        persistent=not ephemeral,
        poll_interval_seconds=poll_interval,
        with_prometheus=True,
        prometheus_port=prometheus_port or free_port(),
        guard_every_seconds=guard_every,
        tick_every_seconds=tick_every,
        with_token_worker=True,
        notification_routes=_notification_routes(notifications_file) if notifications_file else None,
    )
    if settings.admin_token:
        config.admin_token = settings.admin_token.get_secret_value()
    elif not ephemeral:
        # The Keeper knows only the bootstrap token it is given: the same one must let the user back in.
        config.admin_token = stored_admin_token(state_dir)
    pond = LocalPond(config)
    with console.status("starting the embedded AWS, the Keeper, the target and the Schools..."):
        try:
            pond.start()
        except RuntimeError as exc:
            pond.stop()
            raise click.ClickException(str(exc)) from exc
    _print_pond(pond)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: it is ignored when started with `&`
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            for process in pond.processes:
                if not process.running:
                    err_console.print(
                        f"[red]{process.name} exited[/]; its log: {process.log_path}\n{process.log_tail()}"
                    )
                    stop.set()
    finally:
        console.print("stopping the pond...")
        pond.stop()


def _print_pond(pond: LocalPond) -> None:
    console.print("[bold green]the pond is up[/]")
    console.print(f"  embedded AWS  {pond.aws_url}   (signed requests only, with the pair below)")
    console.print(f"  Keeper        {pond.keeper_url}   (OpenAPI: {pond.keeper_url}/openapi.json)")
    console.print(f"  web console   {pond.keeper_url}/ui/   (sign in with KOIPOND_TOKEN below)")
    console.print(f"  target        {pond.target_url}   (Slack-like API; /metrics, /admin/faults)")
    console.print(f"  Prometheus    {pond.prometheus_url}   (the guard's default cluster)")
    for school, metrics in zip(pond.schools, pond.school_metrics_urls, strict=True):
        console.print(f"  {school.name:<13} {metrics}")
    console.print(f"  logs          {pond.logs}")
    if pond.config.persistent:
        console.print(
            f"  state         {pond.aws_state_dir}   (admin token in {pond.config.state_dir / ADMIN_TOKEN_FILE})"
        )
    else:
        console.print("  state         in memory only (--ephemeral): gone when the pond stops")
    console.print("use it from another shell:")
    for name, value in pond.client_env().items():
        console.print(f"  export {name}={value}")
    console.print(f"  export KOIPOND_TARGET_ADMIN_TOKEN={pond.config.target_admin_token}   # for /admin/faults")
    aws = " ".join(f"{name}={value}" for name, value in pond.config.aws_key_pair.as_env().items())
    console.print(f"  {aws} aws --endpoint-url {pond.aws_url} ...   # the embedded AWS, by hand")
    console.print("press Ctrl-C to stop")


@click.command("demo")
@state_dir_option(".pond/demo", "Where logs go.")
def demo_command(state_dir: Path) -> None:
    """Run the main job on a fresh local pond, narrate it, and exit 0 when every step worked."""
    from koipond.api.client import KeeperApiError
    from koipond_cli.demo import DemoFailedError, run_demo

    try:
        run_demo(state_dir)
    except (DemoFailedError, KeeperApiError, RuntimeError) as exc:
        raise click.ClickException(f"demo failed: {exc}; logs are in {state_dir / 'logs'}") from exc


SCHOOL_MAIN = "school_container.main"


@click.command("school")
@click.option("--id", "school_id", help="Stable School id (default: the host name) [env KOIPOND_SCHOOL_ID].")
@click.option(
    "--capacity",
    type=click.IntRange(0, 1_000_000),
    help="Most koi to run, all workers together [env KOIPOND_SCHOOL_CAPACITY, 5000].",
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="Port of /metrics, /healthz, /readyz [9100].")
@click.option("--failsafe", type=float, help="Seconds to keep koi running while the Keeper is unreachable [60].")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="Worker processes hosting koi, koi split among them by index; 1 runs them in this process "
    "[env KOIPOND_SCHOOL_WORKERS, default: the CPUs the container may use].",
)
def school_command(
    school_id: str | None, capacity: int | None, metrics_port: int | None, failsafe: float | None, workers: int | None
) -> None:
    """Run a School: poll the Keeper and run its share of koi until SIGTERM.

    Needs KOIPOND_KEEPER_URL and KOIPOND_TOKEN (a key with the school role); with the bundled target,
    KOIPOND_TARGET_ADMIN_TOKEN lets koi mint their users' tokens from the origins listed in
    KOIPOND_TOKEN_MINT_ORIGINS (scheme://host:port, comma-separated; no other target ever receives it).

    One School uses every core it may: this process polls the Keeper as one School (one id, one
    capacity for all its workers, one /metrics summing them), and --workers processes host the koi;
    a worker that dies is restarted with its koi.
    """
    import importlib

    from pydantic import ValidationError

    overrides = {
        "school_id": school_id,
        "school_capacity": capacity,
        "metrics_port": metrics_port,
        "failsafe_seconds": failsafe,
        "school_workers": workers,
    }
    main = importlib.import_module(SCHOOL_MAIN)
    try:
        settings = main.SchoolSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.ClickException(f"School settings are invalid: {problems}") from exc
    main.run(settings)


def _notification_routes(path: Path) -> str:
    """The routes file's text, checked as the Keeper will check the secret (errors name fields, never URLs)."""
    from koipond.notifications.config import NotificationConfigError, parse_config

    text = path.read_text()
    try:
        parse_config(text)
    except NotificationConfigError as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--notifications") from None
    return text


GUARD_HANDLER = "lambdas.shutdown_guard.handler:lambda_handler"
RELEASE_TICK_HANDLER = "lambdas.release_tick.handler:lambda_handler"


@click.command("guard")
@click.option("--every", default="60s", show_default=True, help="How often to evaluate (10s for demos).")
@click.option("--once", is_flag=True, help="Evaluate once and exit.")
def guard_command(every: str, once: bool) -> None:
    """Run the shutdown guard: the same handler as the scheduled Lambda, on a local period.

    Reads KOIPOND_AWS_ENDPOINT and KOIPOND_PROMETHEUS_URL (or KOIPOND_GUARD_CLUSTERS).
    """

    def show(result: dict[str, Any]) -> None:
        for line in result["evaluations"]:
            acted = "  -> ACTED" if line["acted"] else ""
            console.print(f"{line['label']}: {line['outcome']} ({line['detail']}){acted}")

    _run_scheduled(GUARD_HANDLER, "shutdown-guard", every, once, show)


@click.command("tick")
@click.option("--every", default="60s", show_default=True, help="How often to run the due release work.")
@click.option("--once", is_flag=True, help="Run once and exit.")
def tick_command(every: str, once: bool) -> None:
    """Run the release tick: the same handler as the scheduled Lambda, on a local period.

    Each pass does the due time-driven work: rollout stages, deploy verdicts, continuous-test
    resumes and notification deliveries. Reads KOIPOND_AWS_ENDPOINT and KOIPOND_PROMETHEUS_URL.
    """

    def show(result: dict[str, Any]) -> None:
        for step, summary in result["steps"].items():
            if summary:
                console.print(f"{step}: " + ", ".join(f"{k}={v}" for k, v in summary.items()))

    _run_scheduled(RELEASE_TICK_HANDLER, "release-tick", every, once, show)


def _run_scheduled(
    handler_path: str, name: str, every: str, once: bool, show: Callable[[dict[str, Any]], None]
) -> None:
    """Invoke a scheduled Lambda handler with EventBridge events on a local period until SIGTERM/SIGINT."""
    from koipond.models.durations import parse_duration
    from local_pond.lambda_http import LocalLambdaContext, load_handler

    try:
        period = parse_duration(every)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--every") from exc
    if not get_settings().aws_endpoint:
        err_console.print(f"note: {envvars.AWS_ENDPOINT} is unset, so {name} uses real AWS")
    handler = load_handler(handler_path)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        started = time.monotonic()
        if once:
            show(handler(scheduled_event(name), LocalLambdaContext(name)))
            return
        try:
            show(handler(scheduled_event(name), LocalLambdaContext(name)))
        except Exception as exc:  # a failed run must not end the schedule: EventBridge invokes again too
            err_console.print(f"[red]{name} run failed[/] ({type(exc).__name__}): {exc}; next run in {period:g} s")
        stop.wait(max(0.0, period - (time.monotonic() - started)))


def scheduled_event(rule: str) -> dict[str, Any]:
    """An EventBridge scheduled event, as AWS sends it to a scheduled Lambda."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": now,
        "region": "local",
        "resources": [f"arn:aws:events:local:123456789012:rule/koipond-{rule}"],
        "detail": {},
    }
