"""Delivering the outbox: claim each due notification, post it to its webhook, record the outcome."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from koipond.clock import Clock
from koipond.errors import StoreError
from koipond.notifications.config import ConfigSource, NotificationConfig, Route
from koipond.notifications.expansion import IntentExpander
from koipond.notifications.models import DeliveryOutcome, Notification, NotificationStatus
from koipond.notifications.ports import NotificationRepository
from koipond.notifications.quiet_logs import quiet_library_logs
from koipond.notifications.retry import Attempt, RetryPolicy, Verdict, decide
from koipond.notifications.slack import incoming_payload, workflow_payload

log = logging.getLogger("koipond.notifications")

# Short timeouts: a slow Slack delays one notification by seconds, never a whole tick.
HTTP_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
# Waits between tries to record a sent notification: ~8 s in all, well inside the tick's 50 s Lambda timeout
# and its 40 s delivery budget, and long enough for a restarted embedded AWS or a throttled table.
RECORD_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class PostResult:
    http_status: int | None
    error: str | None = None
    retry_after: str | None = None
    detail: str | None = None


def post_webhook(http: httpx.Client, url: str, payload: dict[str, Any], key: str | None = None) -> PostResult:
    """POST ``payload`` as JSON; transport errors become their class name (their text may hold the URL).

    ``key`` (the notification's event key) goes in an ``Idempotency-Key`` header: Slack ignores it, but a
    receiver that honours it (a proxy, the local webhook sink) can tell a repeat from a new message.
    """
    headers = {"Idempotency-Key": key} if key else None
    with quiet_library_logs():
        try:
            response = http.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            return PostResult(None, type(exc).__name__)
    detail = None
    if not response.is_success:
        # Slack answers errors with a short token (invalid_payload, channel_not_found): worth keeping.
        detail = response.text.replace(url, "<webhook>")[:200] or response.reason_phrase
    return PostResult(response.status_code, None, response.headers.get("retry-after"), detail)


def render(route: Route, n: Notification, config: NotificationConfig) -> dict[str, Any]:
    if route.type == "workflow":
        return dict(workflow_payload(n.kind, n.text, n.fields, config))
    return incoming_payload(n.kind, n.text, n.fields, config)


class NotificationDeliverer:
    """The release tick's "notifications" step; safe to run in several processes at once (claims)."""

    def __init__(
        self,
        repo: NotificationRepository,
        config: ConfigSource,
        clock: Clock,
        policy: RetryPolicy | None = None,
        http_factory: Callable[[], httpx.Client] | None = None,
        batch: int = 25,
        budget_seconds: float = 40.0,
        intents: IntentExpander | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repo
        self._intents = intents
        self._config = config
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._http_factory = http_factory or (lambda: httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False))
        self._batch = batch
        self._budget = budget_seconds
        # A claim outlives the longest attempt, so a live deliverer never loses its lease mid-send.
        self._lease = timedelta(seconds=60)
        self._sleep = sleep

    def deliver_due(self) -> dict[str, int]:
        """Expand the waiting notification intents, then attempt every due notification once (at most
        ``batch``, within the time budget).

        Returns:
            The non-zero counts of: expanded, raced (intents), due, delivered, retrying, failed, skipped
            (taken by another deliverer or lease lost); empty when nothing was due, so an idle tick logs nothing.
        """
        expanded: dict[str, int] = {}
        if self._intents is not None:
            try:
                expanded = self._intents.expand_pending()
            except StoreError as exc:
                # The intents stay waiting for the next tick; what is due already can still go out now.
                log.error("notification intents not expanded this tick: %s", type(exc).__name__)
                expanded = {"intents_error": 1}
        return {**expanded, **self.deliver(self._repo.due(self._clock.now(), self._batch))}

    def deliver(self, due: list[Notification]) -> dict[str, int]:
        """Attempt each of ``due`` (as read, perhaps stale: a claim fails where another deliverer won)."""
        counts = dict.fromkeys(("due", "delivered", "retrying", "failed", "skipped"), 0)
        counts["due"] = len(due)
        if not due:
            return {}
        config = self._config.current()
        owner = uuid.uuid4().hex
        started = time.monotonic()
        with self._http_factory() as http:
            for n in due:
                if time.monotonic() - started > self._budget:
                    break  # the rest stay due for the next tick
                counts[self._deliver_one(http, n, config, owner)] += 1
        return {name: count for name, count in counts.items() if count}

    def _deliver_one(self, http: httpx.Client, n: Notification, config: NotificationConfig, owner: str) -> str:
        claimed = self._repo.claim(n, self._clock.now(), self._lease, owner)
        if claimed is None:
            return "skipped"
        route = config.route(claimed.route)
        if route is None:
            outcome = DeliveryOutcome(
                error="RouteRemoved", detail="the route is no longer configured", at=self._clock.now()
            )
            return "failed" if self._repo.finish(claimed, NotificationStatus.FAILED, outcome, None) else "skipped"
        result = post_webhook(http, route.url.get_secret_value(), render(route, claimed, config), claimed.key)
        now = self._clock.now()
        attempt = Attempt(claimed.attempts, result.http_status, result.error, result.retry_after)
        # Seeded per notification and attempt: jitter spreads retries, yet a rerun decides the same.
        rng = random.Random(f"{claimed.key}#{claimed.route}#{claimed.attempts}")  # noqa: S311 - jitter only
        decision = decide(attempt, now, self._policy, rng)
        outcome = DeliveryOutcome(http_status=result.http_status, error=result.error, detail=result.detail, at=now)
        status = {
            Verdict.DELIVERED: NotificationStatus.DELIVERED,
            Verdict.RETRY: NotificationStatus.PENDING,
            Verdict.FAILED: NotificationStatus.FAILED,
        }[decision.verdict]
        if not self._record_sent(claimed, status, outcome, decision.next_attempt_at):
            return "skipped"
        log.info("notification %s to %s: %s", claimed.key, claimed.route, decision.reason)
        return {Verdict.DELIVERED: "delivered", Verdict.RETRY: "retrying", Verdict.FAILED: "failed"}[decision.verdict]

    def _record_sent(
        self, claimed: Notification, status: NotificationStatus, outcome: DeliveryOutcome, next_at: datetime | None
    ) -> bool:
        """Record an attempt that reached the webhook, through a short store outage.

        Once Slack has the message, failing to record it means its claim expires and another tick sends it
        again: people see it twice. So a store error here is retried for a few seconds (an embedded AWS or
        a table throttled for a moment comes back well within that) before it is given up; the claim's
        condition still stops a write once another deliverer has taken the notification over.
        """
        for delay in RECORD_RETRY_DELAYS:
            try:
                return self._repo.finish(claimed, status, outcome, next_at)
            except StoreError:
                log.warning("notification %s sent but not recorded yet; retrying in %.2f s", claimed.key, delay)
                self._sleep(delay)
        # The last try: its error ends the step like any other store error of the tick.
        return self._repo.finish(claimed, status, outcome, next_at)
