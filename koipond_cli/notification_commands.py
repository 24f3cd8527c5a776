"""``koipond notifications list`` (what was told to Slack and how delivery went) and ``koipond webhook-sink``."""

from __future__ import annotations

import click

from koipond.api.notifications import NotificationOut
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import DeliveryOutcome, NotificationStatus
from koipond_cli.context import console, emit_rows, keeper_call, wire_time
from koipond_cli.options import listen_options


@click.group("notifications")
def notifications_group() -> None:
    """Slack notifications: kept in an outbox, delivered by the release tick (see docs/notifications.md)."""


@notifications_group.command("list")
@click.option("--kind", type=click.Choice([k.value for k in NotificationKind]), help="Only this kind.")
@click.option("--status", type=click.Choice([s.value for s in NotificationStatus]), help="Only this status.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True, help="At most this many.")
def list_command(kind: str | None, status: str | None, limit: int) -> None:
    """Notifications newest first, each with its route, delivery status, attempts and last outcome."""
    with keeper_call() as keeper:
        found = keeper.notifications(kind, status, limit)
    columns = ("created", "kind", "route", "status", "tries", "last outcome", "text")
    emit_rows(found, columns, _cells, empty="no notifications")


def _cells(n: NotificationOut) -> tuple[str, ...]:
    return (
        wire_time(n.created_at)[:19],
        n.kind,
        n.route,
        n.status,
        str(n.attempts),
        _outcome(n.last_outcome),
        n.text[:80],
    )


def _outcome(outcome: DeliveryOutcome | None) -> str:
    if outcome is None:
        return "-"
    said = f"HTTP {outcome.http_status}" if outcome.http_status is not None else outcome.error or "?"
    return f"{said} {outcome.detail or ''}".strip()[:60]


@click.command("webhook-sink")
@listen_options(8790)
def webhook_sink_command(host: str, port: int) -> None:
    """Run a local stand-in for Slack webhooks: records requests (GET /_sink/requests), answers as scripted."""
    from local_pond.webhook_sink import serve

    console.print(f"webhook sink on http://{host}:{port} (requests at /_sink/requests)")
    serve(host, port)
