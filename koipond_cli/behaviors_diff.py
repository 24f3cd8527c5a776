"""``koipond behaviors versions`` and ``diff``: a behavior's stored versions, and what changed between two."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import ValidationError
from rich.table import Table

from koipond.api.behaviors import BehaviorDiffOut, BehaviorVersionOut, DiffSideOut, diff_side
from koipond.api.client import KeeperClient
from koipond.models.behavior import BehaviorDocument
from koipond.models.behavior_diff import (
    ActionRate,
    BehaviorDiff,
    FieldChange,
    RateChange,
    diff_behaviors,
    per_1000_koi_per_second,
)
from koipond.models.behavior_preview import PER_KOI
from koipond_cli.behaviors_io import load_or_explain, number
from koipond_cli.context import CliState, console, emit, keeper_call, table_of, wire_time

Ref = int | Literal["latest"] | Path
_VERSION = re.compile(r"^[0-9]{1,10}$")
_PER = f"per {PER_KOI:,} koi"


class BehaviorRef(click.ParamType[Ref]):
    """A version number, ``latest``, or a behavior file on this machine."""

    name = "VERSION|latest|FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Ref:
        if isinstance(value, int | Path) or value == "latest":
            return value  # type: ignore[no-any-return]
        text = str(value)
        if _VERSION.fullmatch(text):
            if int(text) < 1:
                self.fail("versions start at 1", param, ctx)
            return int(text)
        if Path(text).is_file():
            return Path(text)
        return self.fail(f"{text!r} is not a version number, 'latest', or a behavior file", param, ctx)


@dataclass(frozen=True)
class Side:
    """One side of the diff: its document, and which version or file it is."""

    document: BehaviorDocument
    version: int | None = None
    file: Path | None = None
    by: str | None = None
    at: str | None = None

    @property
    def label(self) -> str:
        if self.file is not None:
            return str(self.file)
        detail = f" ({self.at}, by {self.by})" if self.at else ""
        return f"version {self.version}{detail}"

    def wire(self) -> DiffSideOut:
        return diff_side(self.document, version=self.version, file=None if self.file is None else str(self.file))


@click.command("versions")
@click.argument("name")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N versions (default: all).")
def versions_command(name: str, limit: int | None) -> None:
    """NAME's stored versions, newest first: who stored each, when, and the load it makes.

    \b
    per koi/h is every action's calls per koi per hour; req/s is per 1,000 koi, the steady state plus
    each formation averaged over its period (the total `koipond behaviors check` prints). --json adds
    each version's description. Exit status 1 when the Keeper knows no such behavior.
    """
    with keeper_call() as keeper:
        versions = keeper.behavior_versions(name, limit=limit)
    emit(versions, lambda shown: console.print(_versions_table(name, shown)))


def _versions_table(name: str, versions: list[BehaviorVersionOut]) -> Table:
    columns = ("version", "stored (UTC)", "by", "actions", "per koi/h", f"req/s {_PER}")
    table = table_of(versions, columns, _version_cells, title=f"versions of {name}, newest first")
    for index in (0, 3, 4, 5):
        table.columns[index].justify = "right"
    table.columns[1].no_wrap = True
    return table


def _version_cells(v: BehaviorVersionOut) -> tuple[str, ...]:
    return (
        str(v.version),
        wire_time(v.created_at)[:16].replace("T", " "),
        v.created_by,
        str(v.actions),
        f"{v.steady_per_koi_per_hour:,.6g}",
        number(v.requests_per_second),
    )


@click.command("diff")
@click.argument("name")
@click.argument("before", metavar="A", type=BehaviorRef())
@click.argument("after", metavar="B", type=BehaviorRef())
@click.option("--json", "as_json", is_flag=True, help="Print JSON (same as koipond --json behaviors diff).")
@click.pass_context
def diff_command(ctx: click.Context, name: str, before: Ref, after: Ref, as_json: bool) -> None:
    """What changed in behavior NAME from A to B.

    \b
    A and B are each a stored version (a number, or `latest`) or a behavior file on this machine
    (YAML or JSON, e.g. to see what `behaviors put` would change):
      koipond behaviors diff average_user 3 latest
      koipond behaviors diff average_user latest behaviors/average_user.yaml

    \b
    Shows actions added and removed with their rates; each rate change per koi per hour, in percent
    and in requests/s per 1,000 koi (a rate is rate_per_hour x weight); and every other field that
    differs: action templates (method, path, each param, body), websocket, channels, description, and
    formations added, removed or changed (each step by name).

    \b
    Exit status: 0 (also when the two differ); 1 when the Keeper knows no such behavior or version
    (its message), or a file is invalid; 2 on a usage error.
    """
    state = ctx.find_object(CliState)
    if state is not None and as_json:
        state.as_json = True
    older, newer = _resolve(name, before, after)
    found = diff_behaviors(older.document, newer.document)
    emit(BehaviorDiffOut.of(name, older.wire(), newer.wire(), found), lambda _: _print_diff(name, older, newer, found))


def _resolve(name: str, before: Ref, after: Ref) -> tuple[Side, Side]:
    """Both sides; the Keeper is asked only for versions (two files need none)."""
    if isinstance(before, Path) and isinstance(after, Path):
        return _file_side(before), _file_side(after)
    with keeper_call() as keeper:
        return _side(keeper, name, before), _side(keeper, name, after)


def _side(keeper: KeeperClient, name: str, ref: Ref) -> Side:
    if isinstance(ref, Path):
        return _file_side(ref)
    stored = keeper.get_behavior(name, None if ref == "latest" else ref)
    try:
        document = BehaviorDocument.model_validate(stored.document)
    except ValidationError as exc:
        raise click.ClickException(
            f"version {stored.version} of {name} is not a behavior this CLI reads (upgrade koipond?): {exc}"
        ) from exc
    at = wire_time(stored.created_at)[:16].replace("T", " ")
    return Side(document, version=stored.version, by=stored.created_by, at=f"{at} UTC")


def _file_side(file: Path) -> Side:
    return Side(load_or_explain(file), file=file)


def _print_diff(name: str, older: Side, newer: Side, found: BehaviorDiff) -> None:
    console.print(f"[bold]{name}[/]: {older.label} -> {newer.label}")
    if found.empty:
        console.print("no changes: the two documents are the same")
        return
    before, after = found.steady_before_per_koi_per_hour, found.steady_after_per_koi_per_hour
    per_second = f"{number(per_1000_koi_per_second(before))} -> {number(per_1000_koi_per_second(after))} req/s {_PER}"
    console.print(
        f"steady rate: {before:,.6g} -> {after:,.6g} calls per koi per hour ({per_second}, {_percent(before, after)})"
    )
    _print_actions(found)
    if found.formations_added:
        console.print(f"formations added: {', '.join(found.formations_added)}")
    if found.formations_removed:
        console.print(f"formations removed: {', '.join(found.formations_removed)}")
    if found.changes:
        console.print(table_of(found.changes, ("where", "change", "before", "after"), _change_cells, title="changes"))


def _print_actions(found: BehaviorDiff) -> None:
    if found.rate_changes:
        columns = ("action", "before/h", "after/h", "change/h", "change", f"req/s {_PER}")
        table = table_of(found.rate_changes, columns, _rate_cells, title="rate changes, per koi")
        for index in range(1, 6):
            table.columns[index].justify = "right"
        console.print(table)
    for title, rates in (("actions added", found.actions_added), ("actions removed", found.actions_removed)):
        if rates:
            headers = ("action", "method", "path", "per koi/h", f"req/s {_PER}")
            console.print(table_of(rates, headers, _added_cells, title=title))


def _added_cells(rate: ActionRate) -> tuple[str, ...]:
    return rate.action, rate.method, rate.path, f"{rate.per_koi_per_hour:,.6g}", number(rate.requests_per_second)


def _rate_cells(change: RateChange) -> tuple[str, ...]:
    weights = change.weight_before != 1 or change.weight_after != 1
    detail = f" ({change.rate_before:g}x{change.weight_before:g})" if weights else ""
    after = f" ({change.rate_after:g}x{change.weight_after:g})" if weights else ""
    return (
        change.action,
        f"{change.before_per_koi_per_hour:,.6g}{detail}",
        f"{change.after_per_koi_per_hour:,.6g}{after}",
        f"{change.delta_per_koi_per_hour:+,.6g}",
        "new rate" if change.percent is None else f"{change.percent:+.3g}%",
        _signed(change.delta_requests_per_second),
    )


def _change_cells(change: FieldChange) -> tuple[str, ...]:
    return change.where, change.kind, _value(change.before), _value(change.after)


def _value(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def _signed(value: float) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "") + number(abs(value))


def _percent(before: float, after: float) -> str:
    if before == after:
        return "unchanged"
    return "from 0" if before == 0 else f"{100 * (after - before) / before:+.3g}%"
