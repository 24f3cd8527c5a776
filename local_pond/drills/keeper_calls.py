"""Keeper API calls that ride out the chaos: retried while a component is down, never applied twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from koipond.api.client import KeeperApiError, KeeperClient
from local_pond.drills.findings import Findings
from local_pond.pond import LocalPond

T = TypeVar("T")
# 0: the Keeper could not be reached (killed, restarting); 5xx: it or the embedded AWS is away.
RETRYABLE = frozenset({0, 429, 500, 502, 503, 504})
CALL_BUDGET_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 2.0


class DrillCallError(Exception):
    """A Keeper call failed for good: refused, or still failing when its budget ran out."""


class KeeperCaller:
    """One thread's Keeper client; each retry is counted in the findings under the call's name."""

    def __init__(
        self,
        pond: LocalPond,
        findings: Findings,
        stop: threading.Event,
        between_attempts: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = KeeperClient(pond.keeper_url, pond.config.admin_token, timeout=10.0)
        self._findings = findings
        self._stop = stop
        # The schedule's thread restarts killed processes while its call waits for the Keeper to be back.
        self._between_attempts = between_attempts
        self.sent_at = 0.0  # time.monotonic() when the attempt that took effect was sent

    def close(self) -> None:
        self.client.close()

    def call(
        self,
        what: str,
        action: Callable[[KeeperClient], T],
        applied: Callable[[KeeperClient], T | None] | None = None,
        budget: float = CALL_BUDGET_SECONDS,
    ) -> T:
        """``action``, retried while the Keeper is away; ``applied`` finds out whether a failed attempt took
        effect anyway (the Keeper died after writing, before answering), so nothing is done twice.

        Raises:
            DrillCallError: the Keeper refused the call, or it kept failing for ``budget`` seconds.
        """
        deadline = time.monotonic() + budget
        delay = 0.25
        while True:
            self.sent_at = time.monotonic()
            try:
                return action(self.client)
            except KeeperApiError as exc:
                if exc.status not in RETRYABLE:
                    raise DrillCallError(f"{what}: {exc.status} {exc.code}: {exc}") from exc
                if time.monotonic() > deadline or self._stop.is_set():
                    raise DrillCallError(f"{what}: still failing after {budget:.0f}s: {exc}") from exc
                self._findings.retry(what)
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            self._between_attempts()
            found = self._applied(applied)
            if found is not None:
                return found

    def _applied(self, applied: Callable[[KeeperClient], T | None] | None) -> T | None:
        if applied is None:
            return None
        try:
            return applied(self.client)
        except KeeperApiError:
            return None  # still away: the next attempt (or the next look) will tell

    def read(self, what: str, action: Callable[[KeeperClient], T], budget: float = CALL_BUDGET_SECONDS) -> T:
        """A read, retried like a call (reads are safe to repeat)."""
        return self.call(what, action, None, budget)
