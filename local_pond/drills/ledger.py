"""Everything the drill made (tests, keys, behaviors, rollouts, deploys, history events), and the check that
none of it is lost: run after every restart of the embedded AWS and at the end."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from koipond.api.client import KeeperApiError, KeeperClient
from koipond.api.history import EventOut
from local_pond.drills.findings import Findings

NOTHING_LOST = "nothing lost"
HISTORY_RECORDED = "state change has its event"
ESTOP_SUBJECT = "estop"
ESTOP_HISTORY_SHOWN = 50  # GET /v1/emergency-stop shows the newest 50 events


class Ledger:
    def __init__(self, findings: Findings) -> None:
        self._findings = findings
        self._lock = threading.Lock()
        self.tests: dict[str, str] = {}  # id -> name
        self.keys: set[str] = set()
        self.behaviors: set[tuple[str, int]] = set()
        self.rollouts: set[str] = set()
        self.deploys: set[str] = set()
        self.events: defaultdict[str, set[str]] = defaultdict(set)  # subject -> event ids seen

    def made(self, what: str, ident: Any) -> None:
        with self._lock:
            match what:
                case "test":
                    self.tests[ident[0]] = ident[1]
                case "key":
                    self.keys.add(ident)
                case "behavior":
                    self.behaviors.add(ident)
                case "rollout":
                    self.rollouts.add(ident)
                case "deploy":
                    self.deploys.add(ident)

    def saw(self, subject: str, events: Iterable[EventOut]) -> None:
        with self._lock:
            self.events[subject].update(e.id for e in events)

    def recorded(self, subject: str, events: list[EventOut], kind: str | None, reason: str | None) -> str | None:
        """Check that ``events`` (the subject's history) hold the change just made; its event id, if so."""
        self.saw(subject, events)
        found = [e for e in events if kind in (None, e.kind) and (reason is None or e.reason == reason)]
        self._findings.check(HISTORY_RECORDED, bool(found), f"{subject}: no {kind} event with reason {reason!r}")
        return found[-1].id if found else None

    def check_nothing_lost(self, client: KeeperClient, when: str) -> None:
        """Everything made is still there, each history event seen included; one check per item.

        Raises:
            KeeperApiError: the Keeper is away (the caller retries the whole check).
        """
        with self._lock:
            tests, keys, behaviors = dict(self.tests), set(self.keys), set(self.behaviors)
            rollouts, deploys = set(self.rollouts), set(self.deploys)
            events = {subject: set(ids) for subject, ids in self.events.items()}
        for test_id in sorted(tests):
            self._still(f"test {test_id}", partial(client.test_events, test_id), events.pop(test_id, set()), when)
        for rollout_id in sorted(rollouts):
            read = partial(_transitions, client, rollout_id)
            self._still(f"rollout {rollout_id}", read, events.pop(rollout_id, set()), when)
        for deploy_id in sorted(deploys):
            read = partial(client.deploy_events, deploy_id)
            self._still(f"deploy {deploy_id}", read, events.pop(f"deploy:{deploy_id}", set()), when)
        self._estop_history(client, events.pop(ESTOP_SUBJECT, set()), when)
        stored_keys = {k.id for k in client.list_keys()}
        for key in sorted(keys):
            self._findings.check(NOTHING_LOST, key in stored_keys, f"{when}: key {key} is gone")
        for name, version in sorted(behaviors):
            self._still(f"behavior {name} v{version}", partial(_behavior, client, name, version), set(), when)

    def _still(
        self,
        what: str,
        read: Callable[[], list[EventOut]],
        event_ids: set[str],
        when: str,
    ) -> None:
        try:
            shown = {e.id for e in read()}
        except KeeperApiError as exc:
            if exc.status != 404:
                raise
            self._findings.check(NOTHING_LOST, False, f"{when}: {what} is gone")
            return
        missing = event_ids - shown
        self._findings.check(NOTHING_LOST, not missing, f"{when}: {what} lost history events {sorted(missing)[:5]}")

    def _estop_history(self, client: KeeperClient, event_ids: set[str], when: str) -> None:
        history = client.estop_status().history
        shown = {e.id for e in history}
        if len(history) >= ESTOP_HISTORY_SHOWN:  # older ones are past what the API shows: compare the window
            oldest = min(e.id for e in history)
            event_ids = {i for i in event_ids if i >= oldest}
        missing = event_ids - shown
        self._findings.check(NOTHING_LOST, not missing, f"{when}: emergency stop events lost {sorted(missing)[:5]}")

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "tests": len(self.tests),
                "keys": len(self.keys),
                "behavior_versions": len(self.behaviors),
                "rollouts": len(self.rollouts),
                "deploys": len(self.deploys),
                "history_events": sum(len(ids) for ids in self.events.values()),
            }


def _transitions(client: KeeperClient, rollout_id: str) -> list[EventOut]:
    return client.show_rollout(rollout_id).transitions or []


def _behavior(client: KeeperClient, name: str, version: int) -> list[EventOut]:
    """No history to compare: reading the version (a 404 if it is gone) is the check."""
    client.get_behavior(name, version)
    return []
