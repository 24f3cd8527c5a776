"""``koipond run FILE``: koi of one behavior against a target from one command, no Keeper; thresholds set the exit."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from koipond import envvars
from koipond.behavior_files import load_behavior_file
from koipond.errors import BehaviorInvalidError
from koipond.models.behavior import BehaviorDocument
from koipond.models.durations import parse_duration
from koipond.models.run_stats import RunStats
from koipond.models.thresholds import Threshold, ThresholdError, evaluate, parse_thresholds
from koipond.tokens.mint_origins import origin_of
from koipond.tokens.models import WORKSPACE_PATTERN
from koipond_cli.context import CliState, console, err_console
from koipond_cli.run_engine import (
    MetricsEndpoint,
    OnTick,
    RunOutcome,
    RunPlan,
    RunSetupError,
    TokenOptions,
    descriptor_room,
    fetch_tokens,
    run_load,
    token_source,
)
from koipond_cli.run_metrics import action_labels
from koipond_cli.run_view import RunHeader, RunSummary, live_view, progress_line, summary_json, summary_view
from school_container.file_tokens import FileTokenSource, TokenFileError
from school_container.tokens import TokenSource
from slacklike_target.context import ADMIN_TOKEN_ENV

WORKSPACE = re.compile(WORKSPACE_PATTERN)
RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # a test id's pattern: the run id seeds the koi as a test id does
MAX_RAMP_SECONDS = 10
PROGRESS_EVERY_SECONDS = 10  # without a terminal: a progress line on stderr this often
MAX_CONNECTIONS = 1000
LOG_WIDTH = 140


class RunRefused(click.ClickException):
    """A usage error said in one line (exit 2, as click's own): nothing swam."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        err_console.print(Text.assemble(("error: ", "bold red"), self.message), soft_wrap=True)


@click.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="Base URL of the service under test, e.g. http://127.0.0.1:8800.")
@click.option("--koi", type=click.IntRange(1, 1_000_000), default=10, show_default=True, help="Koi to swim.")
@click.option("--for", "run_for", default="1m", show_default=True, help="How long to run: 90s, 2m, 1h30m...")
@click.option("--ramp", help="Koi start spread over this long. Default: 10s, or a tenth of --for if less.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="EXPR",
    help="Must hold at the end, else exit 1; repeatable: 'p99<500ms', 'success_rate>=0.99', "
    "'ws_lag_p99<200ms', 'post_message:p99<300ms' (one action).",
)
@click.option(
    "--tokens",
    "tokens_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Users' tokens: one a line (koi i gets the i-th), a token pipeline shard, JSON {index: token} or a list.",
)
@click.option(
    "--admin-token",
    envvar=ADMIN_TOKEN_ENV,
    help=f"Mint tokens at the target's admin.tokens.mint with this token [env {ADMIN_TOKEN_ENV}]; "
    "it is sent to the --target's origin only.",
)
@click.option("--token-bucket", metavar="NAME", help="Read tokens from the token pipeline's shards in this S3 bucket.")
@click.option(
    "--aws-endpoint",
    envvar=envvars.AWS_ENDPOINT,
    metavar="URL",
    help=f"S3 endpoint for --token-bucket (e.g. the local pond's) [env {envvars.AWS_ENDPOINT}].",
)
@click.option("--aws-region", default="us-east-1", show_default=True, help="AWS region for --token-bucket.")
@click.option("--workspace", default="T-run", show_default=True, help="Workspace the koi's users belong to.")
@click.option(
    "--run-id",
    default="koipond-run",
    show_default=True,
    help="Seeds every koi's schedule: the same id (and koi) makes the same calls at the same offsets.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1, 100_000),
    help=f"HTTP connections all koi share. Default: one per koi, at most {MAX_CONNECTIONS:,}.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve the School's Prometheus metrics at /metrics on this port while running (0: any free).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address of --metrics-port.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout, no live view (as koipond --json run)."
)
@click.option(
    "--summary-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the summary as JSON to this file (as k6's --summary-export), whatever is printed.",
)
@click.option("--quiet", "-q", is_flag=True, help="No live view or progress: only the summary.")
@click.pass_context
def run_command(
    ctx: click.Context,
    file: Path,
    target: str,
    koi: int,
    run_for: str,
    ramp: str | None,
    thresholds: Sequence[str],
    tokens_file: Path | None,
    admin_token: str | None,
    token_bucket: str | None,
    aws_endpoint: str | None,
    aws_region: str,
    workspace: str,
    run_id: str,
    max_connections: int | None,
    metrics_port: int | None,
    metrics_host: str,
    as_json: bool,
    summary_file: Path | None,
    quiet: bool,
) -> None:
    """Run FILE's behavior against --target with --koi koi for --for, in this process; no Keeper, no AWS.

    Koi swim exactly as in a School (the same code): each acts as user i of --workspace with its own
    token and websocket, calls the behavior's actions at its rates (Poisson, per koi), and latency is
    measured from each call's scheduled time. A live view refreshes each second on a terminal; a summary
    follows (per action: requests, req/s, success, p50/p90/p99/max, failures by status; websockets;
    each threshold's PASS or FAIL). Ctrl-C or SIGTERM stops early and still prints the summary.

    \b
    Tokens (one of these is needed; the first given is used):
      --tokens FILE                                  read them from a file
      --token-bucket NAME [--aws-endpoint URL]       read the token pipeline's shards
      --admin-token, or KOIPOND_TARGET_ADMIN_TOKEN   mint them at the target (the bundled target can)

    \b
    Thresholds: [ACTION:]METRIC OP LIMIT, e.g. p99<500ms, p50<=100ms, success_rate>=0.99,
    ws_lag_p99<200ms, post_message:p99<300ms (ACTION is an action's metric label).

    \b
    Examples:
      koipond target --admin-token secret &
      export KOIPOND_TARGET_ADMIN_TOKEN=secret   # safer than --admin-token, which other users' ps shows
      koipond run behaviors/average_user.yaml --target http://127.0.0.1:8800 --koi 50 --for 2m \\
          --threshold 'p99<500ms' --threshold 'success_rate>=0.99'
      koipond run my.yaml --target https://staging.example.com --tokens tokens.txt --koi 200 --for 10m --json
      koipond run my.yaml --target ... --tokens tokens.txt --metrics-port 9100   # Prometheus scrapes /metrics

    \b
    Exit status: 0 every threshold held; 1 one failed; 2 usage error (bad file, threshold, duration,
    no tokens...), before any koi swims, or a --summary-file that could not be written.
    """
    state = ctx.find_object(CliState)
    machine = as_json or (state is not None and state.as_json)
    document = _behavior(file)
    duration = _duration("--for", run_for, allow_zero=False)
    plan = RunPlan(
        run_id=_checked(run_id, RUN_ID, "--run-id", "letters, digits, _ . - (at most 64)"),
        behavior_name=file.stem,
        behavior=document,
        target=_target(target),
        workspace=_checked(workspace, WORKSPACE, "--workspace", "letters, digits, _ - (at most 64)"),
        koi=koi,
        duration_seconds=duration,
        ramp_seconds=_duration("--ramp", ramp, allow_zero=True) if ramp else min(MAX_RAMP_SECONDS, duration / 10),
        max_connections=max_connections or min(koi, MAX_CONNECTIONS),
    )
    checks = _thresholds(thresholds, action_labels(document))
    if summary_file is not None and not summary_file.parent.is_dir():
        raise RunRefused(f"--summary-file: the directory {summary_file.parent} does not exist")
    options = TokenOptions(tokens_file, admin_token, token_bucket, aws_endpoint, aws_region)
    header = RunHeader(str(file), plan.target, koi, plan.duration_seconds, plan.run_id, plan.workspace)
    endpoint = MetricsEndpoint(metrics_host, metrics_port) if metrics_port is not None else None
    screen = None if machine or quiet else _live_console()
    outcome = _run(plan, options, header, checks, endpoint, screen, chatty=not (machine or quiet))
    results = evaluate(checks, outcome.stats)
    summary = RunSummary(header, outcome.stats, results, outcome.stopped_early, outcome.stop_reason)
    summary_text = json.dumps(summary_json(summary), indent=2)
    written = summary_file is None or _write_summary(summary_file, summary_text)
    if machine:
        click.echo(summary_text)
    else:
        _summary_console().print(summary_view(summary))
    if not summary.passed:
        ctx.exit(1)
    if not written:
        ctx.exit(2)  # the thresholds held, but the file a pipeline reads next is not there


def _write_summary(file: Path, text: str) -> bool:
    """Write the JSON summary; False (and said) when the file cannot be written."""
    try:
        file.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        err_console.print(f"error: --summary-file {file}: {exc.strerror or exc}", soft_wrap=True)
        return False
    return True


def _behavior(file: Path) -> BehaviorDocument:
    try:
        return load_behavior_file(file)
    except BehaviorInvalidError as exc:
        raise RunRefused(exc.message) from exc
    except OSError as exc:
        raise RunRefused(f"cannot read {file}: {exc.strerror or exc}") from exc


def _duration(option: str, text: str, *, allow_zero: bool) -> int:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise RunRefused(f"{option}: {exc}") from exc
    if seconds == 0 and not allow_zero:
        raise RunRefused(f"{option} must be longer than 0s")
    return seconds


def _checked(value: str, pattern: re.Pattern[str], option: str, expected: str) -> str:
    if not pattern.fullmatch(value):
        raise RunRefused(f"{option} {value!r} is not valid: {expected}")
    return value


def _target(target: str) -> str:
    try:
        origin_of(target)
    except ValueError as exc:
        raise RunRefused(f"--target: {exc} (e.g. http://127.0.0.1:8800)") from exc
    return target.rstrip("/")


def _thresholds(texts: Sequence[str], labels: Sequence[str]) -> list[Threshold]:
    try:
        return parse_thresholds(texts, actions=labels)
    except ThresholdError as exc:
        raise RunRefused(f"--threshold: {exc}") from exc


def _summary_console() -> Console:
    """stdout; without a terminal (a CI log) and no COLUMNS, wider than rich's 80 columns, which fold the tables."""
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(highlight=False, width=LOG_WIDTH)


def _live_console() -> Console | None:
    """Where the live view goes: stdout when it is a terminal, else stderr when that is; else nowhere."""
    if console.is_terminal:
        return console
    return err_console if err_console.is_terminal else None


def _tokens(options: TokenOptions, plan: RunPlan) -> TokenSource:
    if not options.given:
        raise RunRefused(
            f"no tokens for the koi: pass --admin-token (or set {ADMIN_TOKEN_ENV}) to mint them at the"
            " target, --tokens FILE to read them from a file, or --token-bucket NAME to read the token pipeline's"
            " shards"
        )
    try:
        source = token_source(options, plan.target)
    except (TokenFileError, OSError) as exc:
        raise RunRefused(f"--tokens: {exc}") from exc
    if isinstance(source, FileTokenSource):
        missing = source.missing(range(plan.koi))
        if missing:
            raise RunRefused(
                f"--tokens {options.file} has tokens for {plan.koi - len(missing):,} of the {plan.koi:,} koi:"
                f" {len(missing):,} missing (koi i uses the i-th token; pass fewer --koi or more tokens)"
            )
    return source


def _run(
    plan: RunPlan,
    options: TokenOptions,
    header: RunHeader,
    checks: Sequence[Threshold],
    endpoint: MetricsEndpoint | None,
    screen: Console | None,
    chatty: bool,
) -> RunOutcome:
    """Fetch the tokens, then swim the koi on uvloop, showing progress as asked; usage problems exit 2."""
    import uvloop

    source = _tokens(options, plan)
    room = descriptor_room(plan)
    if room < plan.koi:
        err_console.print(
            f"warning: the open-file limit leaves room for {room:,} koi beside {plan.max_connections:,} HTTP"
            f" connections; raise it (ulimit -n) or expect websocket failures",
            soft_wrap=True,
        )

    async def main() -> RunOutcome:
        tokens = await fetch_tokens(source, plan)
        if chatty:
            err_console.print(
                f"{plan.koi:,} koi of {header.behavior} against {plan.target} for {plan.duration_seconds:g}s"
                f" (ramp {plan.ramp_seconds:g}s); Ctrl-C stops early",
                soft_wrap=True,
            )
        with _progress(header, checks, screen, chatty) as on_tick:
            return await run_load(plan, tokens, on_tick, endpoint, _say_serving)

    try:
        return uvloop.run(main())
    except RunSetupError as exc:
        raise RunRefused(str(exc)) from exc
    except KeyboardInterrupt:
        raise click.Abort from None  # before any koi swam: nothing to summarise


def _say_serving(url: str) -> None:
    err_console.print(f"metrics at {url}", soft_wrap=True)


@contextlib.contextmanager
def _progress(header: RunHeader, checks: Sequence[Threshold], screen: Console | None, chatty: bool) -> Iterator[OnTick]:
    """The tick callback: a live view on ``screen``, else (``chatty``) a progress line on stderr now and then."""
    last: list[RunStats] = []

    def frame(stats: RunStats) -> RenderableType:
        return live_view(header, stats, last[-1] if last else None, evaluate(checks, stats))

    if screen is not None:
        with Live(console=screen, auto_refresh=False, transient=True) as live:

            def show(stats: RunStats) -> None:
                live.update(frame(stats), refresh=True)
                last[:] = [stats]

            yield show
        return

    def log(stats: RunStats) -> None:
        due = not last or stats.elapsed_seconds - last[-1].elapsed_seconds >= PROGRESS_EVERY_SECONDS
        if chatty and due and stats.elapsed_seconds < header.duration_seconds:
            err_console.print(progress_line(header, stats, last[-1] if last else None), soft_wrap=True)
            last[:] = [stats]

    yield log
