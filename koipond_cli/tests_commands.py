"""``koipond test``: start, list, show, scale, shed, stop, resume and events of load tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from koipond.api.client import KeeperClient
from koipond.api.history import EventOut
from koipond.api.loadtests import LoadTestOut
from koipond.models.durations import format_duration
from koipond_cli.context import console, duration_seconds, emit, emit_rows, keeper_call, table_of, wire_time

_DETAILS_CHARS = 200
_EVENT_COLUMNS = ("when", "event", "by", "why", "details")
_EVENTS_TITLE = "history"


def _behavior(test: LoadTestOut) -> str:
    following = " (follows latest)" if test.behavior.get("follow_latest") else ""
    return f"{test.behavior['name']} v{test.behavior['version']}{following}"


@click.group("test")
def test_group() -> None:
    """Start and steer load tests."""


@test_group.command("start")
@click.option("--name", required=True, help="Human-readable name, e.g. 'nightly average users'.")
@click.option("--target", required=True, help="Base URL of the service under test.")
@click.option(
    "--behavior",
    required=True,
    help="Behavior name, NAME@VERSION to pin one, or NAME@latest to follow each new version.",
)
@click.option("--workspace", default="pond", show_default=True, help="Workspace whose users the koi act as.")
@click.option("--koi", type=click.IntRange(min=1), required=True, help="Number of simulated clients.")
@click.option(
    "--shed",
    "shed_percent",
    type=click.FloatRange(0, 100),
    default=0,
    show_default=True,
    help="Percent of koi held back.",
)
@click.option(
    "--duration",
    callback=duration_seconds,
    help="Stop after this long (90s, 10m, 2h, 7d); omit to run continuously.",
)
@click.option("--tag", "tags", multiple=True, help="Tag for guard scopes and filtering; repeatable.")
@click.option(
    "--resume",
    type=click.Choice(["manual", "auto"]),
    default="manual",
    show_default=True,
    help="After the guard stops this continuous test: wait for a person, or resume after --cool-down when healthy.",
)
@click.option(
    "--cool-down", "cool_down", callback=duration_seconds, help="With --resume auto: wait this long (default 10m)."
)
def start(
    name: str,
    target: str,
    behavior: str,
    workspace: str,
    koi: int,
    shed_percent: float,
    duration: int | None,
    tags: tuple[str, ...],
    resume: str,
    cool_down: int | None,
) -> None:
    """Start a load test; it runs until stopped unless --duration is given."""
    behavior_name, _, version = behavior.partition("@")
    if version and not (version.isdigit() or version == "latest"):
        raise click.BadParameter(f"version must be a number or latest, got {version!r}", param_hint="--behavior")
    pinned = version if version == "latest" else int(version) if version else None
    ref: Any = {"name": behavior_name, "version": pinned} if pinned else behavior_name
    spec = {
        "name": name,
        "target": target,
        "behavior": ref,
        "workspace": workspace,
        "koi": koi,
        "shed_percent": shed_percent,
        "duration_seconds": duration,
        "tags": list(tags),
        "resume": resume,
    }
    if cool_down is not None:
        spec["cool_down_seconds"] = cool_down
    with keeper_call() as keeper:
        test = keeper.start_test(**spec)
    emit(
        test,
        lambda t: console.print(
            f"started [bold]{t.id}[/] ({t.name}): {t.koi:,} koi of {_behavior(t)} against {t.target}"
        ),
    )


@test_group.command("list")
@click.option("--status", type=click.Choice(["running", "stopped", "completed"]), help="Only tests with this status.")
def list_tests(status: str | None) -> None:
    """List load tests, newest first."""
    with keeper_call() as keeper:
        tests = keeper.list_tests(status)
    columns = ("id", "name", "status", "koi", "shed", "active", "assigned", "schools", "behavior", "age")
    emit_rows(tests, columns, _test_cells, empty="no load tests yet; start one with: koipond test start --help")


def _test_cells(t: LoadTestOut) -> tuple[str, ...]:
    return (
        t.id,
        t.name,
        t.status,
        f"{t.koi:,}",
        f"{t.shed_percent:g}%",
        f"{t.active_koi:,}",
        f"{t.assigned_koi:,}",
        str(len(t.koi_per_school)),
        _behavior(t),
        _when(t.created_at),
    )


@test_group.command("show")
@click.argument("test_id")
@click.option(
    "--events",
    "event_count",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show the newest N events of the history (all of it: koipond test events TEST_ID).",
)
def show(test_id: str, event_count: int) -> None:
    """Show a test with its per-School split and its latest history."""
    with keeper_call() as keeper:
        test = keeper.show_test(test_id)
        # One event more than shown tells whether older ones exist.
        newest = keeper.test_events(test_id, limit=event_count + 1, newest_first=True)
    shown_events = newest[:event_count][::-1]
    more_events = len(newest) > event_count
    # The JSON is the test as the Keeper shows it, with the history shown beside it.
    shown = {**test.model_dump(mode="json"), "events": shown_events, "more_events": more_events}
    emit(shown, lambda _: _print_test(test, shown_events, more_events))


def _print_test(t: LoadTestOut, events: list[EventOut], more_events: bool) -> None:
    ends = "None" if t.ends_at is None else wire_time(t.ends_at)
    length = "continuous" if t.continuous else f"{format_duration(t.duration_seconds or 0)}, ends {ends}"
    if t.resume_policy.mode == "auto":
        length += f", resumes {format_duration(t.resume_policy.cool_down_seconds)} after a guard stop once healthy"
    console.print(f"[bold]{t.id}[/] {t.name} - [bold]{t.status}[/] ({length}), version {t.version}")
    console.print(f"  target {t.target}  behavior {_behavior(t)}  workspace {t.workspace}")
    console.print(f"  koi {t.koi:,}  shed {t.shed_percent:g}%  active {t.active_koi:,}  assigned {t.assigned_koi:,}")
    for school, koi in sorted(t.koi_per_school.items()):
        console.print(f"    {school}: {koi:,} koi")
    if events:
        console.print(table_of(events, _EVENT_COLUMNS, _event_cells, _EVENTS_TITLE))
    if more_events:
        shown = f"the newest {len(events)} shown" if events else "none shown"
        console.print(
            f"  older events exist ({shown}): koipond test show {t.id} --events {max(2 * len(events), 20)},"
            f" or all of them: koipond test events {t.id}"
        )


def _event_cells(e: EventOut) -> tuple[str, ...]:
    details = ", ".join(f"{k}={v}" for k, v in e.details.items())
    # Reallocations written before their details were compact hold a map of every School.
    if len(details) > _DETAILS_CHARS:
        details = details[: _DETAILS_CHARS - 1] + "…"
    return _when(e.at), e.kind, e.actor, e.reason or "", details


def _when(value: datetime) -> str:
    return wire_time(value)[:19].replace("T", " ")


def _print_change(t: LoadTestOut) -> None:
    console.print(
        f"{t.id}: {t.status}, koi {t.koi:,}, shed {t.shed_percent:g}%, active {t.active_koi:,} (version {t.version})"
    )


_reason_option = click.option("--reason", help="Why; recorded in the test's history.")
_if_version_option = click.option("--if-version", type=int, help="Fail unless the test is at this version.")


@test_group.command("scale")
@click.argument("test_id")
@click.argument("koi", type=click.IntRange(min=0))
@_reason_option
@_if_version_option
def scale(test_id: str, koi: int, reason: str | None, if_version: int | None) -> None:
    """Set a running test's koi count."""
    _update(test_id, reason, if_version, koi=koi)


@test_group.command("shed")
@click.argument("test_id")
@click.argument("percent", type=click.FloatRange(0, 100))
@_reason_option
@_if_version_option
def shed(test_id: str, percent: float, reason: str | None, if_version: int | None) -> None:
    """Partial shutdown: hold back PERCENT of a test's koi (0 brings them all back)."""
    _update(test_id, reason, if_version, shed_percent=percent)


def _update(
    test_id: str,
    reason: str | None,
    if_version: int | None,
    *,
    koi: int | None = None,
    shed_percent: float | None = None,
) -> None:
    with keeper_call() as keeper:
        change = keeper.update_test(test_id, koi=koi, shed_percent=shed_percent, reason=reason, version=if_version)
        emit(change, _print_change)


def _lifecycle_command(name: str, summary: str, call: Callable[[KeeperClient, str, str | None], LoadTestOut]) -> None:
    """Add ``koipond test NAME TEST_ID [--reason]``: one Keeper call, then the test's new state."""

    @test_group.command(name, help=summary)
    @click.argument("test_id")
    @_reason_option
    def command(test_id: str, reason: str | None) -> None:
        with keeper_call() as keeper:
            emit(call(keeper, test_id, reason), _print_change)


_lifecycle_command(
    "stop",
    "Stop a test; Schools stop its koi within one poll interval.",
    lambda keeper, test_id, reason: keeper.stop_test(test_id, reason),
)
_lifecycle_command(
    "resume", "Run a stopped test again.", lambda keeper, test_id, reason: keeper.resume_test(test_id, reason)
)


@test_group.command("events")
@click.argument("test_id")
def events(test_id: str) -> None:
    """A test's history: who changed what, when and why."""
    with keeper_call() as keeper:
        events = keeper.test_events(test_id)
    emit_rows(events, _EVENT_COLUMNS, _event_cells, title=_EVENTS_TITLE)
