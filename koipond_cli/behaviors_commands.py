"""``koipond behaviors``: upload and list behaviors; check one and preview its load; derive one from usage.

Their versions and what changed between two: :mod:`koipond_cli.behaviors_diff`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from koipond.api.behaviors import BehaviorOut
from koipond.behavior_files import load_behavior_file
from koipond.errors import BehaviorInvalidError
from koipond.models.behavior import BehaviorDocument
from koipond.models.behavior_preview import (
    IMPLAUSIBLE_RATE_PER_HOUR,
    PER_KOI,
    ActionLoad,
    BehaviorPreview,
    StepLoad,
    preview_behavior,
)
from koipond_cli.behaviors_derive import derive_command
from koipond_cli.behaviors_diff import diff_command, versions_command
from koipond_cli.behaviors_io import load_or_explain, number
from koipond_cli.behaviors_source import source_group
from koipond_cli.context import CliState, console, emit, emit_rows, err_console, keeper_call, table_of, wire_time


@click.group("behaviors")
def behaviors_group() -> None:
    """Behavior documents: what koi do. Check and derive work offline; put, list, versions and diff ask the Keeper."""


@behaviors_group.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Store under this name (default: the file name without extension).")
def behaviors_put(file: Path, name: str | None) -> None:
    """Validate FILE (YAML or JSON) locally, then upload it as the behavior's next version."""
    document = load_or_explain(file)
    with keeper_call() as keeper:
        stored = keeper.put_behavior(name or file.stem, document.model_dump(mode="json", exclude_none=True))
    emit(stored, lambda b: console.print(f"stored behavior {b.name} version {b.version}"))


@behaviors_group.command("list")
def behaviors_list() -> None:
    """Latest version of each behavior."""
    with keeper_call() as keeper:
        behaviors = keeper.list_behaviors()
    emit_rows(behaviors, ("name", "version", "description", "stored", "by"), _behavior_cells)


def _behavior_cells(b: BehaviorOut) -> tuple[str, ...]:
    return b.name, str(b.version), b.document.get("description", ""), wire_time(b.created_at)[:19], b.created_by


@behaviors_group.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too, e.g. in CI.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (same as koipond --json behaviors check).")
@click.pass_context
def behaviors_check(ctx: click.Context, file: Path, strict: bool, as_json: bool) -> None:
    """Validate FILE (YAML or JSON) and preview the load it makes, without a Keeper.

    \b
    Per 1,000 koi: each action's requests/s and the total, websocket connections and pings, and each
    formation step's calls per firing (a `first` step is one call per test, whatever the koi), its
    peak requests/s while its calls land (within_seconds + spread_seconds) and its average over the
    formation's period (every, or a day for daily_utc; none for a one-off at). The total adds the
    formations' averages to the steady state.

    \b
    Warns when a rate is implausible for a person: an action, or all actions together, above 3,600
    calls per koi per hour (one a second); a formation step in which a koi calls more than once a
    second (or more than once at the same instant); no calls at all.

    \b
    Exit status: 0 valid (warnings are printed and pass, unless --strict); 1 invalid, every problem
    listed with its path (with --strict: also when warned); 2 usage error (e.g. no such file).
    """
    state = ctx.find_object(CliState)
    if state is not None and as_json:
        state.as_json = True
    machine = state is not None and state.as_json
    try:
        document = load_behavior_file(file)
    except BehaviorInvalidError as exc:
        if not machine:
            raise click.ClickException(_problems_list(file, exc)) from exc
        emit({"file": str(file), "valid": False, "problems": exc.details.get("problems", [])}, print)
        ctx.exit(1)
    preview = preview_behavior(document)
    emit(_preview_json(file, preview), lambda _: _print_preview(file, document, preview))
    if strict and preview.warnings:
        ctx.exit(1)


def _problems_list(file: Path, exc: BehaviorInvalidError) -> str:
    problems = exc.details.get("problems", [])
    lines = "".join(f"\n  - {p['path'] or '(document)'}: {p['problem']}" for p in problems)
    return f"{file} is invalid ({len(problems)} problem{'s' if len(problems) != 1 else ''}):{lines}"


def _preview_json(file: Path, preview: BehaviorPreview) -> dict[str, Any]:
    return {
        "file": str(file),
        "valid": True,
        "per_koi": preview.per_koi,
        "actions": [asdict(a) for a in preview.actions],
        "steady": {
            "per_koi_per_hour": preview.steady_per_koi_per_hour,
            "requests_per_second": preview.steady_requests_per_second,
        },
        "websocket": asdict(preview.websocket),
        "formations": [
            {
                **asdict(f),
                "calls_per_firing": f.calls_per_firing,
                "average_requests_per_second": f.average_requests_per_second,
            }
            for f in preview.formations
        ],
        "total_requests_per_second": preview.total_requests_per_second,
        "warnings": [asdict(w) for w in preview.warnings],
        "thresholds": {"implausible_rate_per_hour": IMPLAUSIBLE_RATE_PER_HOUR},
    }


def _print_preview(file: Path, document: BehaviorDocument, preview: BehaviorPreview) -> None:
    count = len(document.formations)
    formations = f", {count} formation{'s' if count != 1 else ''}" if count else ""
    console.print(f"[green]{file} is valid[/] ({len(document.actions)} actions{formations})")
    per = f"{PER_KOI:,} koi"
    table = table_of(
        preview.actions,
        ("action", "method", "path", "per koi/h", f"req/s per {per}", "share"),
        lambda a: _action_cells(a, preview.steady_per_koi_per_hour),
        title=f"steady state, per {per}",
    )
    _right_align(table, 3, 4, 5)
    table.rows[-1].end_section = True
    total_per_hour = f"{preview.steady_per_koi_per_hour:,.6g}"
    table.add_row("total", "", "", total_per_hour, number(preview.steady_requests_per_second), "")
    console.print(table)
    ws = preview.websocket
    if ws.enabled:
        console.print(f"websocket: {ws.connections:,} connections per {per}, {number(ws.pings_per_second)} pings/s")
    else:
        console.print("websocket: off")
    if preview.formations:
        console.print(_formations_table(preview))
    average = preview.total_requests_per_second - preview.steady_requests_per_second
    console.print(
        f"total: [bold]{number(preview.total_requests_per_second)} req/s per {per}[/] "
        f"(steady {number(preview.steady_requests_per_second)} + formations {number(average)} on average)"
    )
    for warning in preview.warnings:
        err_console.print(f"[yellow]warning:[/] {warning.path}: {warning.problem}", soft_wrap=True)


def _action_cells(action: ActionLoad, total_per_hour: float) -> tuple[str, ...]:
    share = f"{action.per_koi_per_hour / total_per_hour:.0%}" if action.per_koi_per_hour else "-"
    rate = f"{action.per_koi_per_hour:,.6g}" + (
        "" if action.weight == 1 else f" ({action.rate_per_hour:g}x{action.weight:g})"
    )
    return action.name, action.method, action.path, rate, number(action.requests_per_second), share


def _formations_table(preview: BehaviorPreview) -> Table:
    steps = [step for formation in preview.formations for step in formation.steps]
    schedules = {f.name: f.schedule for f in preview.formations}
    table = table_of(
        steps,
        ("formation", "schedule", "step", "action", "koi", "calls/firing", "peak req/s", "avg req/s"),
        lambda s: _step_cells(s, schedules[s.formation]),
        title=f"formations, per {PER_KOI:,} koi",
    )
    _right_align(table, 5, 6, 7)
    return table


def _step_cells(step: StepLoad, schedule: str) -> tuple[str, ...]:
    peak = "at once" if step.peak_requests_per_second is None else number(step.peak_requests_per_second)
    average = "once" if step.average_requests_per_second is None else number(step.average_requests_per_second)
    koi = "koi 0 (1 per test)" if step.koi == "first" else step.koi
    return step.formation, schedule, step.step, step.action, koi, f"{step.calls_per_firing:,.6g}", peak, average


def _right_align(table: Table, *columns: int) -> None:
    for index in columns:
        table.columns[index].justify = "right"


behaviors_group.add_command(derive_command)
behaviors_group.add_command(versions_command)
behaviors_group.add_command(diff_command)
behaviors_group.add_command(source_group)
