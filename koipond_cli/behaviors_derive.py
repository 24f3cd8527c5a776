"""``koipond behaviors derive``: a behavior from real usage (a warehouse export, or the service's Prometheus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from koipond.behavior_files import load_behavior_file
from koipond.errors import BehaviorInvalidError, UsageInvalidError
from koipond.models.behavior import BehaviorDocument
from koipond.models.behavior_derive import (
    DerivedBehavior,
    MethodRates,
    PercentileOf,
    comment_text,
    derivation_notes,
    derive_behavior,
    rate_summary,
)
from koipond.models.behavior_yaml import render_behavior_yaml
from koipond_cli.context import CliState, duration_seconds, emit
from koipond_cli.usage_sources import BadInput, Source, file_source, prometheus_source


@click.command("derive")
@click.argument("usage", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--base",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Behavior whose action templates (method, path, params, body), websocket, channels and "
    "formations the derived one reuses, e.g. behaviors/average_user.yaml.",
)
@click.option(
    "--window",
    "window_seconds",
    callback=duration_seconds,
    metavar="DURATION",
    help="How long the usage export covers (7d, 24h) when it has no window_start/window_end columns; "
    "with --prometheus, what $window in the queries stands for.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "jsonl"]),
    help="Format of USAGE (default: its suffix: .csv; .jsonl, .ndjson, .json; each also .gz).",
)
@click.option(
    "--percentile",
    type=click.FloatRange(0, 100, min_open=True),
    help="Take the user at this percentile (nearest rank) instead of the average user, e.g. 90.",
)
@click.option(
    "--percentile-of",
    type=click.Choice(["method", "user"]),
    default="method",
    show_default=True,
    help="method: each method's rate is that percentile over users (busy in everything at once); "
    "user: the one user at that percentile of total calls, with its own mix.",
)
@click.option(
    "--prometheus", "prometheus_url", metavar="URL", help="Read the service's Prometheus instead of a usage export."
)
@click.option("--query", help="With --prometheus: requests per second of the whole service, one series per method.")
@click.option("--users-query", help="With --prometheus: active users, one series (or give --users).")
@click.option("--users", type=click.FloatRange(0, min_open=True), help="With --prometheus: active users, as a number.")
@click.option(
    "--method-label", default="method", show_default=True, help="With --prometheus: the label naming the method."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the behavior here (default: standard output).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: the document, rates per method, every note (as koipond --json).",
)
@click.pass_context
def derive_command(
    ctx: click.Context,
    usage: str | None,
    base: Path,
    window_seconds: int | None,
    file_format: str | None,
    percentile: float | None,
    percentile_of: PercentileOf,
    prometheus_url: str | None,
    query: str | None,
    users_query: str | None,
    users: float | None,
    method_label: str,
    output: Path | None,
    as_json: bool,
) -> None:
    """Derive a behavior from real usage: each action's rate is the average user's (or a percentile's).

    \b
    From a usage export (USAGE; - reads standard input, with --format), as a warehouse query writes it:
      CSV with a header row, or JSON lines, with columns
        user, method, calls                   calls of one API method by one user over the window
        window_start, window_end (optional)   ISO 8601, e.g. 2026-11-21T00:00:00Z (no offset: UTC)
      Without the window columns, say how long the export covers with --window 7d. Rows of the same
      user and method add up; rows' windows must tile one span. Other columns are ignored (and named).
      Every user of the export counts, also for methods it never called (as 0).
    \b
    From Prometheus (--prometheus URL --query Q, and --users-query Q or --users N):
      rate per koi per hour = the method's requests/s (Q, one series per method, label --method-label)
      x 3600 / active users. $window in the queries is replaced by --window. Percentiles need a
      usage export (Prometheus holds totals, not users).
    \b
    A method maps to the --base action whose path ends with it (chat.postMessage -> /api/chat.postMessage).
    Methods that map to no action are listed in the file's header and on standard error, with their rates;
    so are base actions no method maps to (left out, or kept at rate 0 when a formation uses them).
    Rates are rounded to 3 significant digits and capped at the schema's 36,000 per hour.

    \b
    Example:
      koipond behaviors derive usage.csv --window 7d --base behaviors/average_user.yaml -o derived.yaml
      koipond behaviors derive --prometheus http://prom:9090 --window 1d --base behaviors/average_user.yaml \\
        --query 'sum by (method) (rate(api_requests_total[$window]))' \\
        --users-query 'avg_over_time(active_users[$window])'

    \b
    Exit status: 0 written; 1 Prometheus could not be read; 2 bad input (the message names the line and
    column of a usage export), nothing written.
    """
    state = ctx.find_object(CliState)
    if state is not None and as_json:
        state.as_json = True
    base_document = _load_base(base)
    if prometheus_url is not None:
        if usage is not None:
            raise click.UsageError("give a usage export or --prometheus, not both")
        if percentile is not None:
            raise click.UsageError("--percentile needs per-user data (a usage export); Prometheus holds totals")
        source = prometheus_source(prometheus_url, query, users_query, users, method_label, window_seconds)
    elif usage is None:
        raise click.UsageError("give a usage export (USAGE) or --prometheus URL --query Q")
    else:
        _no_prometheus_options(query, users_query, users)
        source = file_source(usage, file_format, window_seconds, percentile, percentile_of)
    derived = _derive(source, base_document, base)
    _write(derived, source, base, output)


def _load_base(base: Path) -> BehaviorDocument:
    try:
        return load_behavior_file(base)
    except BehaviorInvalidError as exc:
        problems = [f"{p['path'] or '(document)'}: {p['problem']}" for p in exc.details.get("problems", [])]
        raise BadInput(f"the base behavior {base} is invalid", problems) from exc


def _no_prometheus_options(*given: object) -> None:
    if any(option is not None for option in given):
        raise click.UsageError("--query, --users-query and --users go with --prometheus")


def _derive(source: Source, base: BehaviorDocument, base_path: Path) -> DerivedBehavior:
    description = comment_text(
        f"Derived from real usage ({_users(source.rates)} users over {source.window}) by koipond behaviors derive: "
        f"{source.rates.statistic}; action templates from {base_path.name}."
    )[:2000]
    try:
        return derive_behavior(source.rates, base, description)
    except UsageInvalidError as exc:
        raise BadInput(exc.message) from exc


def _users(rates: MethodRates) -> str:
    return f"{rates.users:,.0f}" if rates.users >= 10 else f"{rates.users:.3g}"


def _write(derived: DerivedBehavior, source: Source, base: Path, output: Path | None) -> None:
    notes = [*source.notes, *derivation_notes(derived)]
    header = [
        "Derived by `koipond behaviors derive` from real usage; edit it, or derive it again.",
        f"source: {source.what}",
        f"window: {source.window}" + (f", {source.window_how}" if source.window_how else ""),
        f"rates: {derived.rates.statistic}, {_users(derived.rates)} users; calls per koi per hour, "
        "3 significant digits",
        f"base: {base} (action templates, websocket, channels, formations)",
        *notes,
    ]
    text = render_behavior_yaml(
        derived.document, header, {name: rate_summary(derived, name) for name in derived.mapped}
    )
    if output is not None:
        output.write_text(text, encoding="utf-8")
    for note in notes:
        click.echo(f"note: {note}", err=True)
    emit(_derived_json(derived, source, output), lambda _: _print_text(text, output))


def _print_text(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}", err=True)


def _derived_json(derived: DerivedBehavior, source: Source, output: Path | None) -> dict[str, Any]:
    return {
        "document": derived.document.model_dump(mode="json", exclude_none=True),
        "output": None if output is None else str(output),
        "source": source.what,
        "window": source.window,
        "statistic": derived.rates.statistic,
        "users": derived.rates.users,
        "rates_per_hour": dict(derived.rates.rates_per_hour),
        "mapped": {action: list(methods) for action, methods in derived.mapped.items()},
        "unmapped": dict(derived.unmapped),
        "base_actions": dict(derived.base_actions),
        "capped": dict(derived.capped),
        "notes": [*source.notes, *derivation_notes(derived)],
    }
