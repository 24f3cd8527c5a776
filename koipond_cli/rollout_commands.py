"""``koipond rollout``: ramp a running test through stages (koi, hold), and steer the ramp by hand."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
import yaml
from rich.table import Table

from koipond.api.rollouts import RolloutOut
from koipond.models.durations import parse_duration
from koipond.user_files import FileLimitError, load_yaml, read_user_file
from koipond_cli.context import console, emit, emit_rows, keeper_call, wire_time

STATUSES = ["holding", "paused", "completed", "aborted"]


@click.group("rollout")
def rollout_group() -> None:
    """Ramp a test through stages, each held with the guard healthy, e.g. 5,000 -> 50,000 -> 500,000 koi."""


def parse_stage(text: str) -> dict[str, Any]:
    """``5000:7d`` -> ``{"koi": 5000, "hold": 604800}``.

    Raises:
        click.BadParameter: naming the bad stage.
    """
    koi, sep, hold = text.replace(",", "").replace("_", "").partition(":")
    if not sep or not koi.strip().isdigit():
        raise click.BadParameter(f"{text!r} is not KOI:HOLD, e.g. 5000:7d", param_hint="--stage")
    try:
        seconds = parse_duration(hold)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: {exc}", param_hint="--stage") from exc
    return {"koi": int(koi), "hold": seconds}


def read_plan(path: Path) -> list[dict[str, Any]]:
    """Stages from a YAML or JSON file: a list (or ``stages:`` list) of ``{koi, hold}`` or ``"KOI:HOLD"`` items.

    Raises:
        click.ClickException: the file is unreadable or not such a plan.
    """
    try:
        document = load_yaml(read_user_file(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, FileLimitError, yaml.YAMLError) as exc:
        raise click.ClickException(f"cannot read the plan {path}: {exc}") from exc
    stages = document.get("stages") if isinstance(document, dict) else document
    if not isinstance(stages, list) or not stages:
        raise click.ClickException(f"{path}: a plan is a non-empty list of stages (or a 'stages:' list)")
    plan = []
    for number, stage in enumerate(stages, start=1):
        if isinstance(stage, str):
            plan.append(parse_stage(stage))
        elif isinstance(stage, dict):
            plan.append(stage)
        else:
            raise click.ClickException(f"{path}: stage {number} is neither {{koi, hold}} nor 'KOI:HOLD'")
    return plan


@rollout_group.command("start")
@click.argument("test_id")
@click.option("--stage", "stages", multiple=True, metavar="KOI:HOLD", help="A stage, e.g. 5000:7d; repeat in order.")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML/JSON plan file instead of --stage.",
)
@click.option("--reason", help="Why; recorded in the rollout's history.")
def start(test_id: str, stages: tuple[str, ...], plan_file: Path | None, reason: str | None) -> None:
    """Start a rollout on a running test: it is scaled to stage 1 now, and on to the next stage after each hold.

    \b
    koipond rollout start lt-abc --stage 5000:7d --stage 50000:7d --stage 150000:7d --stage 500000:7d
    koipond rollout start lt-abc --plan launch.yaml   (stages: [{koi: 5000, hold: 7d}, ...])
    """
    if bool(stages) == (plan_file is not None):
        raise click.UsageError("give the stages with --stage (repeatable) or --plan FILE, not both or neither")
    plan = read_plan(plan_file) if plan_file is not None else [parse_stage(s) for s in stages]
    with keeper_call() as keeper:
        emit(keeper.start_rollout(test_id, plan, reason), _print_rollout)


@rollout_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only rollouts with this status.")
def list_rollouts(status: str | None) -> None:
    """List rollouts, newest first."""
    with keeper_call() as keeper:
        rollouts = keeper.list_rollouts(status)
    columns = ("id", "test", "status", "stage", "koi", "hold ends", "paused because")
    emit_rows(rollouts, columns, _rollout_cells, empty="no rollouts yet; start one with: koipond rollout start --help")


@rollout_group.command("show")
@click.argument("rollout_id")
def show(rollout_id: str) -> None:
    """Show a rollout's stages (the current one marked) and its transitions."""
    with keeper_call() as keeper:
        emit(keeper.show_rollout(rollout_id), _print_rollout)


def _action(name: str, summary: str) -> click.Command:
    @click.command(name, help=summary)
    @click.argument("rollout_id")
    @click.option("--reason", required=True, help="Why; recorded in the rollout's history and its notification.")
    def command(rollout_id: str, reason: str) -> None:
        with keeper_call() as keeper:
            emit(keeper.rollout_action(rollout_id, name, reason), _print_rollout)

    return command


for _name, _summary in (
    ("advance", "Go to the next stage now (on the last stage: complete the rollout)."),
    ("pause", "Hold the rollout at its current stage until someone resumes it."),
    ("resume", "Resume a paused rollout; the current stage's hold starts over."),
    ("abort", "Give the rollout up; the test keeps running as it is."),
):
    rollout_group.add_command(_action(_name, _summary))


def _rollout_cells(r: RolloutOut) -> tuple[str, ...]:
    stage = r.stages[r.current_stage - 1]
    return (
        r.id, r.test_id, r.status, f"{r.current_stage}/{len(r.stages)}", f"{stage.koi:,}",
        _when(r.hold_ends_at), r.paused_reason or "",
    )  # fmt: skip


def _print_rollout(r: RolloutOut) -> None:
    console.print(f"[bold]{r.id}[/] on test {r.test_id} - [bold]{r.status}[/], version {r.version}")
    if r.paused_reason:
        console.print(f"  paused: {r.paused_reason}")
    stages = Table("", "stage", "koi", "hold", "state")
    for s in r.stages:
        marker = "▶" if s.state == "current" and r.status in {"holding", "paused"} else ""
        stages.add_row(marker, f"{s.number}/{len(r.stages)}", f"{s.koi:,}", s.hold, s.state)
    console.print(stages)
    if r.hold_ends_at:
        console.print(f"  current stage held at the earliest {_when(r.hold_ends_at)} (guard healthy)")
    history = Table("when", "transition", "by", "why", "stage", title="transitions")
    for t in r.transitions or []:
        stage = f"{t.details.get('to_stage')}/{t.details.get('stages')}"
        history.add_row(_when(t.at), t.kind.removeprefix("rollout_"), t.actor, t.reason or "", stage)
    console.print(history)


def _when(value: datetime | None) -> str:
    return "" if value is None else wire_time(value)[:19].replace("T", " ")
