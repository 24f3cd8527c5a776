"""``koipond behaviors source``: where a behavior's rates come from, so the Keeper derives it again on a schedule."""

from __future__ import annotations

from typing import Any

import click

from koipond.api.behavior_sources import BehaviorSourceOut
from koipond_cli.context import console, emit, emit_rows, keeper_call, wire_time


@click.group("source")
def source_group() -> None:
    """A behavior's source: an S3 usage export or a Prometheus query, re-derived on a schedule by the Keeper."""


@source_group.command("set")
@click.argument("name")
@click.option("--s3", "s3_uri", metavar="s3://BUCKET/KEY", help="A usage export (CSV or JSON lines, maybe .gz).")
@click.option("--format", "file_format", type=click.Choice(["csv", "jsonl"]), help="Default: from the key's suffix.")
@click.option("--percentile", type=float, help="S3: the user at this percentile instead of the average user.")
@click.option("--percentile-of", type=click.Choice(["method", "user"]), default="method", show_default=True)
@click.option(
    "--cluster", help="Prometheus: one of the Keeper's configured clusters (default: pond, its KOIPOND_PROMETHEUS_URL)."
)
@click.option("--query", help="Prometheus: requests per second, one series per method.")
@click.option("--users-query", help="Prometheus: active users, one series.")
@click.option("--users", type=float, help="Prometheus: active users as a number.")
@click.option("--method-label", help="Prometheus: the label naming the method (default: method).")
@click.option("--window", help="The export's length, or what $window in the queries stands for (e.g. 7d).")
@click.option("--schedule", help="How often to derive it again (default 1d, at least 1h).")
@click.option("--threshold", type=float, help="Publish only when a rate moved more than this percent (default 10).")
def source_set(name: str, s3_uri: str | None, **options: Any) -> None:
    """Set NAME's source; the Keeper derives it at its next tick, then on the schedule."""
    body = _body(s3_uri, options)
    with keeper_call() as keeper:
        stored = keeper.put_behavior_source(name, body)
    emit(
        stored,
        lambda s: console.print(f"behavior {s.name} follows {s.description}; next run {wire_time(s.next_due_at)}"),
    )


def _body(s3_uri: str | None, options: dict[str, Any]) -> dict[str, Any]:
    prometheus = options["query"] is not None
    if (s3_uri is None) == (not prometheus):
        raise click.UsageError("give one source: --s3 s3://BUCKET/KEY, or --query Q (Prometheus)")
    names = {"threshold": "threshold_percent"}
    body: dict[str, Any] = {names.get(k, k): v for k, v in options.items() if v is not None}
    if s3_uri is None:
        body.pop("percentile_of")
        return {"kind": "prometheus", **body}
    bucket, _, key = s3_uri.removeprefix("s3://").partition("/")
    if not s3_uri.startswith("s3://") or not bucket or not key:
        raise click.BadParameter(f"not s3://BUCKET/KEY: {s3_uri!r}", param_hint="--s3")
    return {"kind": "s3", "bucket": bucket, "key": key, **body}


@source_group.command("show")
@click.argument("name")
def source_show(name: str) -> None:
    """NAME's source: when it runs next and what its last run found."""
    with keeper_call() as keeper:
        stored = keeper.get_behavior_source(name)
    emit(stored, _print_source)


def _print_source(s: BehaviorSourceOut) -> None:
    console.print(f"behavior {s.name} follows {s.description}")
    settings = ", ".join(f"{k} {v}" for k, v in s.source.items() if k not in {"kind", "bucket", "key", "query"})
    console.print(f"  {settings}")
    console.print(f"  next run {wire_time(s.next_due_at)}" + (" (running now)" if s.running_until else ""))
    if s.last_run_at is not None:
        console.print(f"  last run {wire_time(s.last_run_at)}: {s.last_outcome}: {s.last_message}")


@source_group.command("list")
def source_list() -> None:
    """Every behavior's source."""
    with keeper_call() as keeper:
        sources = keeper.list_behavior_sources()
    emit_rows(sources, ("behavior", "source", "next run", "last outcome", "message"), _cells)


def _cells(s: BehaviorSourceOut) -> tuple[str, ...]:
    return (s.name, s.description, wire_time(s.next_due_at), s.last_outcome or "-", s.last_message or "")


@source_group.command("delete")
@click.argument("name")
def source_delete(name: str) -> None:
    """Stop deriving NAME again (its versions stay)."""
    with keeper_call() as keeper:
        removed = keeper.delete_behavior_source(name)
    emit(removed, lambda s: console.print(f"behavior {s.name} no longer follows {s.description}"))
