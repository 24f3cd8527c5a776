"""What every client verb shares: the Keeper client from flags/env, output mode, error reporting."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import click
from pydantic_core import to_jsonable_python
from rich.console import Console, RenderableType
from rich.table import Table

from koipond import envvars
from koipond.api.client import KeeperApiError, KeeperClient
from koipond.models.durations import parse_duration

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
_Data = TypeVar("_Data")
_Row = TypeVar("_Row")


@dataclass
class CliState:
    keeper_url: str | None
    token: str | None
    as_json: bool

    def client(self) -> KeeperClient:
        if not self.keeper_url:
            raise click.UsageError(
                f"no Keeper URL: pass --keeper-url or set {envvars.KEEPER_URL} (koipond up prints it)"
            )
        if not self.token:
            raise click.UsageError(f"no API token: pass --token or set {envvars.TOKEN} (koipond up prints one)")
        return KeeperClient(self.keeper_url, self.token)


class KeeperCallFailed(click.ClickException):
    """A Keeper error shown as one clear line; exit code 1 (2 is click's usage errors)."""

    def __init__(self, error: KeeperApiError) -> None:
        where = f"HTTP {error.status} {error.code}" if error.status else error.code
        super().__init__(f"{error.message} ({where})")
        self.error = error

    def show(self, file: Any = None) -> None:
        err_console.print(f"[bold red]error:[/] {self.message}")
        for problem in self.error.details.get("problems", [])[:20]:
            err_console.print(f"  - {problem.get('path')}: {problem.get('problem')}")


@contextmanager
def keeper_call() -> Iterator[KeeperClient]:
    """Yield a client; turn Keeper errors into a clear CLI error."""
    state = click.get_current_context().find_object(CliState)
    assert state is not None
    client = state.client()
    try:
        yield client
    except KeeperApiError as exc:
        raise KeeperCallFailed(exc) from exc
    finally:
        client.close()


def emit(data: _Data, human: Callable[[_Data], None]) -> None:
    """Print ``data`` (the Keeper's models, or plain data holding them) as JSON with --json, else with ``human``.

    The JSON is the Keeper's own: models dump every field, None included, and times as it writes them.
    """
    state = click.get_current_context().find_object(CliState)
    if state is not None and state.as_json:
        click.echo(json.dumps(to_jsonable_python(data), indent=2, default=str))
    else:
        human(data)


def table_of(
    rows: Sequence[_Row],
    columns: Sequence[str],
    cells: Callable[[_Row], Sequence[RenderableType]],
    title: str | None = None,
) -> Table:
    """A table with ``columns``, and a line of ``cells(row)`` for each of ``rows``."""
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*cells(row))
    return table


def emit_rows(
    rows: Sequence[_Row],
    columns: Sequence[str],
    cells: Callable[[_Row], Sequence[RenderableType]],
    *,
    empty: str | None = None,
    title: str | None = None,
) -> None:
    """:func:`emit` a list: JSON with --json, else :func:`table_of` it (or print ``empty``, if given, for none)."""

    def human(shown: Sequence[_Row]) -> None:
        if not shown and empty is not None:
            console.print(empty)
            return
        console.print(table_of(shown, columns, cells, title))

    emit(rows, human)


def wire_time(value: datetime) -> str:
    """A time written as the Keeper's JSON writes it, e.g. ``2026-11-28T12:00:00.000004Z``."""
    return str(to_jsonable_python(value))


def wire_time_or_empty(value: datetime | None) -> str:
    """:func:`wire_time`, or "" for no time."""
    return "" if value is None else wire_time(value)


def duration_seconds(_: click.Context, __: click.Parameter, value: str | None) -> int | None:
    """A click callback: ``90s``, ``15m``, ``7d`` or whole seconds -> seconds (None stays None)."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
