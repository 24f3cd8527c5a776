"""Every notification the pond owes is delivered exactly once per route: the Keeper's outbox against the sink."""

from __future__ import annotations

import threading
import time
from typing import Any

from koipond.api.client import KeeperClient
from koipond.api.notifications import NotificationOut
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.slack import MAX_FIELDS, escape_mrkdwn
from local_pond.drills.findings import Findings
from local_pond.webhook_sink import WebhookSink

NOTIFIED_ONCE = "notified once per route"
# The sink's paths of the pond's two routes (local_pond.aws.sink_notification_config).
ROUTE_PATHS = {"workflow": "/triggers/pond", "incoming": "/services/pond"}
# A delivery claims its notification for this long (koipond.notifications.delivery: the claim's lease): a
# tick killed mid-delivery leaves it to the next tick only once the lease is over.
DELIVERY_LEASE_SECONDS = 60.0
# From a state change to its delivery: that lease, a tick down for up to 5 s, a few tick periods, slack.
DELIVERY_GRACE_SECONDS = DELIVERY_LEASE_SECONDS + 15.0


class NotificationAudit:
    """The notifications the drill's changes should cause, and what the outbox and the sink show."""

    def __init__(self, sink: WebhookSink, findings: Findings) -> None:
        self._sink = sink
        self._findings = findings
        self._lock = threading.Lock()
        self._expected: dict[str, tuple[float, str]] = {}  # key -> (time.monotonic() made, what)
        self._reported: set[tuple[str, str]] = set()

    def expect(self, key: str, what: str) -> None:
        with self._lock:
            self._expected.setdefault(key, (time.monotonic(), what))

    @property
    def expected(self) -> int:
        with self._lock:
            return len(self._expected)

    def latest_due(self) -> float:
        """When (time.monotonic()) the last expected notification is due at the latest."""
        with self._lock:
            return max((made for made, _ in self._expected.values()), default=0.0) + DELIVERY_GRACE_SECONDS

    def audit(self, client: KeeperClient, final: bool = False) -> bool:
        """Check every outbox row against the sink; True when every expected one was delivered on every route.

        Raises:
            KeeperApiError: the Keeper is away (the next audit looks again).
        """
        rows = [row for kind in NotificationKind for row in client.notifications(kind=kind, limit=200)]
        received = {route: [r.body for r in self._sink.state.received(path)] for route, path in ROUTE_PATHS.items()}
        delivered: set[tuple[str, str]] = set()
        for row in rows:
            if row.status == "delivered" and row.route in received:
                delivered.add((row.key, row.route))
                copies = sum(_matches(row, body) for body in received[row.route])
                self._once(
                    (row.key, row.route), copies == 1, f"{copies} copies of {row.kind} {row.key} at route {row.route}"
                )
            elif final:
                self._once((row.key, row.route), False, f"{row.kind} {row.key} at route {row.route} is {row.status}")
        return self._expected_delivered(delivered, final)

    def _expected_delivered(self, delivered: set[tuple[str, str]], final: bool) -> bool:
        now = time.monotonic()
        with self._lock:
            expected = dict(self._expected)
        complete = True
        for key, (made, what) in expected.items():
            for route in ROUTE_PATHS:
                if (key, route) in delivered:
                    continue
                complete = False
                if final or now - made > DELIVERY_GRACE_SECONDS:
                    self._once(
                        (key, route), False, f"{what} ({key}) not delivered to route {route} after {now - made:.0f}s"
                    )
        return complete

    def _once(self, mark: tuple[str, str], ok: bool, detail: str) -> None:
        """Count a check; a failing row (key, route) is reported once, however many audits see it."""
        if ok or mark in self._reported:
            self._findings.check(NOTIFIED_ONCE, True)
            return
        self._reported.add(mark)
        self._findings.check(NOTIFIED_ONCE, False, detail)


def _matches(row: NotificationOut, body: Any) -> bool:
    """Whether a request the sink received is this row's notification (its fields identify its event)."""
    fields = row.fields
    if not isinstance(body, dict):
        return False
    if row.route == "workflow":
        return body.get("kind") == row.kind and all(body.get(k) == escape_mrkdwn(v) for k, v in fields.items())
    shown = {
        field.get("text")
        for block in body.get("blocks", [])
        if isinstance(block, dict)
        for field in block.get("fields", [])
        if isinstance(field, dict)
    }
    wanted = {f"*{escape_mrkdwn(k)}*\n{escape_mrkdwn(v) or '-'}" for k, v in sorted(fields.items())[:MAX_FIELDS]}
    return bool(wanted) and wanted <= shown
