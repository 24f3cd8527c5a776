"""The emergency stop drill: pull it, time how long each live School takes to stop its koi, watch the target
go quiet, check every test stopped with its event, lift it; both flips notify once per route.

Measured, with I the poll interval the Keeper hands out:

- *reaches every live School*: from the flip (the Keeper's timestamp of its ``estop_activated`` event,
  never earlier than the request was sent) to the first scrape of the School's ``/metrics`` showing no
  koi, scraped every 0.1 s; bound ``I + 1 s`` (a School polls every ``I`` x 0.9-1.1). Only Schools that
  ran koi and had polled successfully twice since the drill settled count: a School still backing off
  after the Keeper was away polls later by design, and one without koi has nothing to show.
- *the target sees no koi request after that + 1 s*: the target's request counter (Web API calls and
  websocket upgrades, not the token mint) must not move from ``pull + I + 2 s`` (plus any latency
  injected at the target, since a request received before the stop is counted when answered) until the
  stop is lifted, and no websocket may be open by then.
"""

from __future__ import annotations

import time
from functools import partial

from koipond.api.client import KeeperClient
from koipond.api.estop import EmergencyStopOut
from koipond.api.history import EventOut
from local_pond.drills.conditions import ESTOP, PondConditions
from local_pond.drills.findings import Findings
from local_pond.drills.invariants import Timing
from local_pond.drills.keeper_calls import KeeperCaller
from local_pond.drills.ledger import ESTOP_SUBJECT, Ledger
from local_pond.drills.notifications import NotificationAudit
from local_pond.drills.observer import Observer
from local_pond.drills.operations import Operations
from local_pond.drills.probes import target_view

ESTOP_REACHES = "estop reaches every School"
ESTOP_TARGET_QUIET = "target quiet after estop"
SETTLE_POLLS = 2
SETTLE_TIMEOUT_SECONDS = 45.0
WATCH_EVERY_SECONDS = 0.1
QUIET_HOLD_SECONDS = 2.0
RESUMED_AFTER_LIFT = 3


class EstopDrill:
    def __init__(
        self,
        caller: KeeperCaller,
        operations: Operations,
        observer: Observer,
        ledger: Ledger,
        findings: Findings,
        audit: NotificationAudit,
        conditions: PondConditions,
        timing: Timing,
        target_url: str,
    ) -> None:
        self._caller = caller
        self._operations = operations
        self._observer = observer
        self._ledger = ledger
        self._findings = findings
        self._audit = audit
        self._conditions = conditions
        self._timing = timing
        self._target_url = target_url

    def run(self, hold: float) -> None:
        """Pull, measure, lift. The caller makes no other change meanwhile."""
        settled = self._settle()
        swimming = {s for s, v in self._observer.school_views().items() if v.total_koi and s in settled}
        running = [t.id for t in self._operations.tests() if t.status == "running"]
        reason = self._operations.reason("estop")
        self._conditions.away(ESTOP)
        try:
            pulled = self._pull(reason)
            self._watch_schools(pulled, swimming)
            self._watch_target(pulled, hold)
            self._tests_stopped(running, reason)
        finally:
            self._lift(self._operations.reason("lift"))
            self._conditions.back(ESTOP)
        # Lifting leaves tests stopped (resuming is a person's act): resume some, so load goes on.
        for test_id in running[:RESUMED_AFTER_LIFT]:
            self._operations.resume(test_id)
            self._findings.operation("resume")

    def _settle(self) -> set[str]:
        """Wait until every School polled successfully twice more: none is backing off after an outage."""
        start = self._observer.school_views()
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            now = self._observer.school_views()
            settled = {s for s, v in now.items() if s in start and v.polls_ok >= start[s].polls_ok + SETTLE_POLLS}
            if settled == set(now):
                return settled
            time.sleep(0.25)
        self._findings.note(f"Schools not settled before the emergency stop: {sorted(set(now) - settled)}")
        return settled

    def _pull(self, reason: str) -> float:
        def pulled(client: KeeperClient) -> EmergencyStopOut | None:
            status = client.estop_status()
            return status if status.active and status.reason == reason else None

        self._caller.call("estop pull", lambda c: c.estop_on(reason), pulled)
        sent = self._caller.sent_at
        event = self._estop_event(reason, "estop_activated")
        if event is None:
            return sent
        self._audit.expect(f"estop#on#{event.id}", "emergency stop pulled")
        # The Keeper stamps the flip (then stops tests for up to half a second before it answers): the
        # promise runs from that stamp, on this machine's own clock, never before the request was sent.
        flipped = event.at.timestamp()
        return max(sent, time.monotonic() - (time.time() - flipped))

    def _lift(self, reason: str) -> None:
        def lifted(client: KeeperClient) -> EmergencyStopOut | None:
            status = client.estop_status()
            return None if status.active else status

        self._caller.call("estop lift", lambda c: c.estop_off(reason), lifted)
        event = self._estop_event(reason, "estop_lifted")
        if event is not None:
            self._audit.expect(f"estop#off#{event.id}", "emergency stop lifted")
        self._findings.operation("estop")

    def _estop_event(self, reason: str, kind: str) -> EventOut | None:
        history = self._caller.read("estop status", lambda c: c.estop_status()).history
        event_id = self._ledger.recorded(ESTOP_SUBJECT, history, kind, reason)
        return next((e for e in history if e.id == event_id), None)

    def _watch_schools(self, pulled: float, swimming: set[str]) -> None:
        bound = self._timing.estop_bound
        deadline = pulled + bound + 3.0  # watch past the bound, to report how late a late School was
        waiting = set(swimming)
        while waiting and time.monotonic() < deadline:
            views = self._observer.school_views()
            for school in sorted(waiting):
                view = views.get(school)
                if view is not None and view.total_koi == 0:
                    waiting.discard(school)
                    took = time.monotonic() - pulled
                    self._findings.stop_latency(took)
                    self._findings.check(ESTOP_REACHES, took <= bound, f"{school} stopped its koi {took:.2f}s after")
            time.sleep(WATCH_EVERY_SECONDS)
        for school in sorted(waiting):
            detail = f"{school} still ran koi {deadline - pulled:.1f}s after the pull"
            self._findings.check(ESTOP_REACHES, False, detail)

    def _watch_target(self, pulled: float, hold: float) -> None:
        quiet_from = pulled + self._timing.estop_bound + 1.0 + self._conditions.max_latency()
        time.sleep(max(0.0, quiet_from - time.monotonic()))
        before = target_view(self._target_url)
        time.sleep(QUIET_HOLD_SECONDS + hold)
        after = target_view(self._target_url)
        if before is None or after is None:
            self._findings.note("the target did not answer its /metrics during an emergency stop")
            return
        calls = after.koi_requests - before.koi_requests
        detail = f"{calls} koi requests and {after.websockets} websockets at the target after the stop"
        self._findings.check(ESTOP_TARGET_QUIET, calls == 0 and after.websockets == 0, detail)

    def _tests_stopped(self, running: list[str], reason: str) -> None:
        """Every test that ran when the stop was pulled is stopped, with its event naming the stop."""
        for test_id in running:
            events = self._caller.read("test events", partial(KeeperClient.test_events, test_id=test_id))
            self._ledger.recorded(test_id, events, "test_stopped", f"emergency stop: {reason}")
