"""Where ``koipond behaviors derive`` gets its rates: a usage export (CSV, JSON lines) or the service's Prometheus."""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
from pydantic import ValidationError

from koipond.errors import BadRequestError, UsageInvalidError
from koipond.models.behavior_derive import (
    MethodRates,
    PercentileOf,
    average_rates,
    percentile_rates,
    rates_by_label,
    rates_from_totals,
    single_value,
)
from koipond.models.durations import format_duration
from koipond.models.guard import PrometheusCluster
from koipond.models.usage import read_usage_csv, read_usage_jsonl
from koipond.prometheus import ApiClientPrometheusReader

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_PROMETHEUS_TIMEOUT_SECONDS = 30.0


class BadInput(click.ClickException):
    """Bad input (the usage, the base, the window, a query's answer): exit 2, every problem on its own line."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)
        for problem in self.problems:
            click.echo(f"  - {problem}", err=True)


@dataclass(frozen=True)
class Source:
    """Where the rates came from, for the file's header: what, and over which window."""

    rates: MethodRates
    what: str
    window: str
    window_how: str
    notes: tuple[str, ...] = ()


def file_source(
    usage: str, file_format: str | None, window: int | None, percentile: float | None, of: PercentileOf
) -> Source:
    """The rates of a usage export: the average user's, or the user at ``percentile``.

    Args:
        usage: the file, or ``-`` for standard input.
        file_format: ``csv`` or ``jsonl``; None: from the file's suffix.
        window: the export's length in seconds when its rows do not state their window.
        percentile: None for the average user.
        of: which percentile (``koipond.models.behavior_derive.percentile_rates``).

    Raises:
        BadInput: the file cannot be read or has problems (each named by line and column).
        click.UsageError: the format cannot be told.
    """
    kind = file_format or _format_of(usage)
    reader = read_usage_csv if kind == "csv" else read_usage_jsonl
    try:
        with _text_lines(usage) as lines:
            table = reader(lines, window)
    except UsageInvalidError as exc:
        problems = [_problem_text(p) for p in exc.details.get("problems", [])]
        raise BadInput(f"the usage export {usage} is invalid", problems) from exc
    except UnicodeDecodeError as exc:
        raise BadInput(f"the usage export {usage} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except OSError as exc:
        raise BadInput(f"cannot read {usage}: {exc.strerror or exc}") from exc
    rates = average_rates(table) if percentile is None else percentile_rates(table, percentile, of)
    what = f"{'standard input' if usage == '-' else usage} ({kind.upper()}, {table.rows:,} rows)"
    notes = (f"ignored columns: {', '.join(table.ignored_columns)}",) if table.ignored_columns else ()
    how = "stated by its rows" if table.window.start is not None else "as given with --window"
    return Source(rates, what, table.window.describe(), how, notes)


def _problem_text(problem: dict[str, Any]) -> str:
    where = f"line {problem['line']}" + (f", column {problem['column']}" if problem.get("column") else "")
    return f"{where}: {problem['problem']}"


def _format_of(usage: str) -> str:
    if usage == "-":
        raise click.UsageError("reading standard input needs --format csv or --format jsonl")
    suffixes = [s.lower() for s in Path(usage).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        found = "".join(Path(usage).suffixes) or "none"
        raise click.UsageError(f"unknown usage file format (suffix {found}); use .csv, .jsonl, .ndjson or --format")
    return kind


@contextmanager
def _text_lines(usage: str) -> Iterator[IO[str]]:
    if usage == "-":
        yield io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        return
    opener: Any = gzip.open if usage.lower().endswith(".gz") else open
    with opener(usage, "rt", encoding="utf-8-sig", newline="") as lines:
        yield lines


def prometheus_source(
    url: str, query: str | None, users_query: str | None, users: float | None, label: str, window: int | None
) -> Source:
    """The average user's rates from the service's Prometheus: per-method requests/s over active users.

    Args:
        url: Prometheus' base URL.
        query: requests per second, one series per method (its label ``label``).
        users_query: active users, one series; or None with ``users`` given.
        users: active users as a number; or None with ``users_query`` given.
        label: the label naming the method.
        window: what ``$window`` in the queries stands for, in seconds.

    Raises:
        click.ClickException: Prometheus could not be read (exit 1).
        BadInput: its answer does not fit (no method label, several users series, ...).
        click.UsageError: options missing or contradictory.
    """
    if query is None:
        raise click.UsageError("--prometheus needs --query: requests per second, one series per method")
    if (users_query is None) == (users is None):
        raise click.UsageError("--prometheus needs one of --users-query Q or --users N (active users)")
    try:
        cluster = PrometheusCluster(url=url)
    except ValidationError as exc:
        raise click.BadParameter(f"not an http(s) URL: {url!r}", param_hint="--prometheus") from exc
    reader = ApiClientPrometheusReader({url: cluster}, _PROMETHEUS_TIMEOUT_SECONDS)
    at = datetime.now(UTC)
    queries = [_with_window(q, window) for q in (query, users_query) if q is not None]
    try:
        per_method = rates_by_label(_instant(reader, url, queries[0], at), label)
        active = users if users is not None else single_value(_instant(reader, url, queries[1], at), "users")
        rates = rates_from_totals(per_method, active)
    except BadRequestError as exc:
        raise BadInput(f"Prometheus {url}: {exc.message}") from exc
    users_text = f"users query {queries[1]!r}" if users is None else f"--users {users:g}"
    what = f"Prometheus {url}, rate query {queries[0]!r}, {users_text}, at {at.isoformat(timespec='seconds')}"
    if window is None:
        return Source(rates, what, "as written in the queries", "")
    return Source(rates, what, format_duration(window), "as $window in the queries")


def _with_window(query: str, window: int | None) -> str:
    if "$window" not in query:
        return query
    if window is None:
        raise click.UsageError("a query uses $window: give --window (e.g. 7d)")
    return query.replace("$window", format_duration(window))


def _instant(reader: ApiClientPrometheusReader, url: str, query: str, at: datetime) -> Any:
    result = reader.instant_vector(url, query, at)
    if result.error is not None:
        raise click.ClickException(f"{result.error} (query {query!r})")
    return result.series
