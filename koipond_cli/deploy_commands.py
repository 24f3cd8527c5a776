"""``koipond verify`` (block a pipeline on a deploy's verdict) and ``koipond deploy list|show``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from koipond.api.client import KeeperClient
from koipond.api.deploys import DeployOut, WindowValue
from koipond.models.deploys import SliKind, format_sli_value
from koipond_cli.context import (
    KeeperCallFailed,
    console,
    duration_seconds,
    emit,
    emit_rows,
    err_console,
    keeper_call,
    wire_time,
)

EXIT_PASS, EXIT_FAIL, EXIT_NO_VERDICT = 0, 1, 2
_OK = {True: "[green]ok[/]", False: "[bold red]FAIL[/]", None: "[yellow]?[/]"}


class NoVerdict(click.ClickException):
    """No verdict could be had (Keeper unreachable or refusing, timeout): exit 2, never 1 (a regression)."""

    exit_code = EXIT_NO_VERDICT


def _aware(_: click.Context, __: click.Parameter, value: datetime | None) -> datetime | None:
    # A deploy time without a zone is ambiguous between machines; CI runners usually run in UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@click.command("verify")
@click.option("--service", required=True, help="The deployed service, e.g. chat-api.")
@click.option("--build", required=True, help="The deployed build: version, commit or image tag.")
@click.option("--at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]), callback=_aware,
              help="When the deploy happened (ISO 8601; UTC if no zone). Default: the build's latest recorded "
                   "deploy, or now if it has none.")  # fmt: skip
@click.option("--soak", callback=duration_seconds, help="Soak window after the deploy (e.g. 15m; default 15m).")
@click.option("--baseline", callback=duration_seconds, help="Baseline window before the deploy (default 30m).")
@click.option("--wait/--no-wait", default=False, help="Wait for the verdict and exit with its code.")
@click.option("--timeout", callback=duration_seconds, default="30m", show_default=True, help="Longest --wait.")
@click.option("--poll", type=click.FloatRange(0.2, 300), default=5.0, show_default=True, help="Seconds between polls.")
@click.option("--inconclusive", type=click.Choice(["fail", "pass"]), default="fail", show_default=True,
              help="Inconclusive verdicts (too little traffic, no data) exit 2 (fail) or 0 (pass).")  # fmt: skip
def verify_command(
    service: str,
    build: str,
    at: datetime | None,
    soak: int | None,
    baseline: int | None,
    wait: bool,
    timeout: int,
    poll: float,
    inconclusive: str,
) -> None:
    """Record a deploy (or find it) and gate on its verdict: the soak window after the deploy compared
    with the baseline window before it, on success rate, p50/p99 latency per API method and websocket lag.

    \b
    Exit codes:
      0  pass (or inconclusive with --inconclusive pass; or recorded and still pending without --wait)
      1  fail: an SLI regressed beyond its threshold
      2  no verdict: inconclusive (too little traffic, no data, Prometheus unreadable), --timeout reached,
         the Keeper unreachable or refusing the request, or a usage error
    """
    try:
        with keeper_call() as keeper:
            deploy = _find_or_record(keeper, service, build, at, soak, baseline)
            if wait and deploy.status == "pending":
                deploy = _wait(keeper, deploy, timeout, poll)
    except KeeperCallFailed as exc:
        raise NoVerdict(exc.message) from exc
    emit(deploy, _show)
    raise SystemExit(_exit_code(deploy, inconclusive))


def _find_or_record(
    keeper: KeeperClient, service: str, build: str, at: datetime | None, soak: int | None, baseline: int | None
) -> DeployOut:
    if at is None:
        latest = keeper.deploys(service, build, limit=1)
        if latest:
            return latest[0]
        at = datetime.now(UTC)  # chosen here, so a retried POST carries the same time and finds the same deploy
    return keeper.record_deploy(service, build, at=at, soak=soak, baseline=baseline)


def _wait(keeper: KeeperClient, deploy: DeployOut, timeout: int, poll: float) -> DeployOut:
    deadline = time.monotonic() + timeout
    soak_end = deploy.soak.end
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task(f"soaking {deploy.service} {deploy.build}", total=deploy.soak.seconds)
        while deploy.status == "pending":
            if time.monotonic() > deadline:
                raise NoVerdict(f"no verdict on deploy {deploy.id} within {timeout}s; it is still pending")
            left = (soak_end - datetime.now(UTC)).total_seconds()
            progress.update(task, completed=max(0.0, deploy.soak.seconds - max(left, 0.0)))
            if left <= 0:
                error = f" (last error: {deploy.last_error})" if deploy.last_error else ""
                progress.update(task, description=f"judging {deploy.service} {deploy.build}{error}")
            time.sleep(poll)
            deploy = keeper.deploy(deploy.id)
    return deploy


def _exit_code(deploy: DeployOut, inconclusive: str) -> int:
    verdict = deploy.verdict
    if verdict is None:
        return EXIT_PASS  # recorded, not waited for
    if verdict.outcome == "pass":
        return EXIT_PASS
    if verdict.outcome == "fail":
        return EXIT_FAIL
    return EXIT_PASS if inconclusive == "pass" else EXIT_NO_VERDICT


def _number(kind: SliKind, value: WindowValue) -> str:
    return value if isinstance(value, str) else format_sli_value(kind, value)


def _delta(kind: SliKind, value: WindowValue) -> str:
    if value is None or isinstance(value, str):
        return value or "-"
    if kind == SliKind.SUCCESS_RATE:
        return f"{value:+.2f} pp"
    return f"{value * 1000:+.1f} ms"


def _show(deploy: DeployOut) -> None:
    console.print(
        f"deploy [bold]{deploy.id}[/]: {deploy.service} {deploy.build} at {wire_time(deploy.at)}  "
        f"baseline {deploy.baseline.seconds}s, soak {deploy.soak.seconds}s"
    )
    verdict = deploy.verdict
    if verdict is None:
        error = f"; last error: {deploy.last_error}" if deploy.last_error else ""
        console.print(f"status: pending (soak window ends {wire_time(deploy.soak.end)}){error}")
        return
    table = Table("SLI", "method", "baseline", "after", "delta", "threshold", "ok", "note")
    for row in verdict.rows:
        kind = row.kind
        table.add_row(
            kind,
            row.method or "-",
            _number(kind, row.baseline),
            _number(kind, row.after),
            _delta(kind, row.delta),
            row.threshold,
            _OK[row.ok],
            row.note or "",
        )
    console.print(table)
    colour = {"pass": "green", "fail": "bold red"}.get(verdict.outcome, "yellow")
    console.print(f"verdict: [{colour}]{verdict.outcome.upper()}[/] - {verdict.reason}")


@click.group("deploy")
def deploy_group() -> None:
    """Deploy markers and their verdicts (post them with `koipond verify`)."""


@deploy_group.command("list")
@click.option("--service", required=True, help="The service.")
@click.option("--build", help="Only deploys of this build.")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
def list_command(service: str, build: str | None, limit: int) -> None:
    """A service's deploys, newest first."""
    with keeper_call() as keeper:
        deploys = keeper.deploys(service, build, limit)
    emit_rows(deploys, ("id", "build", "at", "status", "verdict", "reason"), _deploy_cells)


def _deploy_cells(d: DeployOut) -> tuple[str, ...]:
    outcome, reason = ("-", "") if d.verdict is None else (d.verdict.outcome, d.verdict.reason)
    return d.id, d.build, wire_time(d.at), d.status, outcome, reason


@deploy_group.command("show")
@click.argument("deploy_id")
def show_command(deploy_id: str) -> None:
    """One deploy: its windows, status and verdict with the SLI table."""
    with keeper_call() as keeper:
        deploy = keeper.deploy(deploy_id)
    emit(deploy, _show)
