"""The drill's operations through the Keeper API: start, scale, shed, stop, resume, rollouts, keys,
behaviors, deploys. Each is retried while the Keeper is away, made once, and checked in history."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial
from typing import Any, TypeVar

from koipond.api.behaviors import BehaviorOut
from koipond.api.client import KeeperClient
from koipond.api.deploys import DeployOut
from koipond.api.history import EventOut
from koipond.api.keys import KeyOut
from koipond.api.loadtests import LoadTestOut
from koipond.api.rollouts import RolloutOut, StageIn
from local_pond.drills.findings import Findings
from local_pond.drills.keeper_calls import DrillCallError, KeeperCaller
from local_pond.drills.ledger import Ledger
from local_pond.drills.notifications import NotificationAudit
from local_pond.pond import LocalPond

BEHAVIOR = "soak"
WORKSPACE = "soak"
TOKEN_USERS = 100  # the token job at the start mints users [0, 100) of WORKSPACE: no test asks for more
MAX_KOI = TOKEN_USERS
MAX_RUNNING = 4
DEPLOY_SERVICE = "soak-chat"
ACTIVE_ROLLOUT = ("holding", "paused")
# A light user: each action about once a minute, so every koi still calls the target every ~20 s.
SOAK_BEHAVIOR: dict[str, Any] = {
    "description": "soak drill koi",
    "actions": {
        "post": {"method": "POST", "path": "/api/chat.postMessage", "rate_per_hour": 60,
                 "body": {"channel": "{channel.id}", "text": "{random.text}"}},
        "history": {"method": "GET", "path": "/api/conversations.history", "rate_per_hour": 60,
                    "params": {"channel": "{channel.id}", "limit": "20"}},
        "profile": {"method": "GET", "path": "/api/users.info", "rate_per_hour": 60,
                    "params": {"user": "{user.id}"}},
    },
    "channels": {"count_per_koi": 3},
}  # fmt: skip


_Picked = TypeVar("_Picked", LoadTestOut, RolloutOut)


class Operations:
    def __init__(
        self,
        pond: LocalPond,
        caller: KeeperCaller,
        ledger: Ledger,
        findings: Findings,
        audit: NotificationAudit,
        seed: int,
    ) -> None:
        self._pond = pond
        self._caller = caller
        self._ledger = ledger
        self._findings = findings
        self._audit = audit
        self._seed = seed
        self._numbers = itertools.count(1)

    def reason(self, what: str) -> str:
        """A reason no other change has: how a change whose answer was lost is recognised in history."""
        return f"soak {self._seed} #{next(self._numbers)} {what}"

    def run(self, kind: str, params: dict[str, Any]) -> bool:
        """Make one operation of ``kind``; False (with a note) when the Keeper refused it."""
        try:
            self._dispatch(kind, params)
        except DrillCallError as exc:
            self._findings.note(f"{kind} not made: {exc}")
            return False
        self._findings.operation(kind)
        return True

    def _dispatch(self, kind: str, params: dict[str, Any]) -> None:
        pick = float(params.get("pick", 0.0))
        match kind:
            case "start":
                self.start(int(params["koi"]))
            case "scale":
                test = self._pick(self._steerable(), pick)
                koi = int(params["koi"]) if int(params["koi"]) != test.koi else test.koi + 1
                self._change("scale", test, {"koi": min(koi, MAX_KOI)}, "test_scaled")
            case "shed":
                test = self._pick(self._steerable(), pick)
                percent = float(params["percent"]) if params["percent"] != test.shed_percent else 10.0
                self._change("shed", test, {"shed_percent": percent}, "test_shed")
            case "stop":
                self.stop(self._pick(self._running(), pick))
            case "resume":
                self._resume(pick)
            case "rollout_start":
                self._rollout_start(self._pick(self._steerable(), pick), params["steps"], int(params["hold"]))
            case "rollout_step":
                self._rollout_step(pick, str(params["action"]))
            case "key":
                self._key()
            case "behavior":
                self.put_behavior()
            case "deploy":
                self._deploy()
            case _:
                raise ValueError(f"unknown operation {kind!r}")

    def tests(self) -> list[LoadTestOut]:
        return self._caller.read("list tests", lambda c: c.list_tests())

    def _running(self) -> list[LoadTestOut]:
        running = [t for t in self.tests() if t.status == "running"]
        return running or [self.start(20)]

    def _steerable(self) -> list[LoadTestOut]:
        """Running tests no rollout is ramping (a person steers those through the rollout)."""
        ramped = {r.test_id for r in self._caller.read("list rollouts", lambda c: c.list_rollouts())
                  if r.status in ACTIVE_ROLLOUT}  # fmt: skip
        steerable = [t for t in self._running() if t.id not in ramped]
        return steerable or [self.start(20)]

    @staticmethod
    def _pick(candidates: Sequence[_Picked], pick: float) -> _Picked:
        ordered = sorted(candidates, key=lambda t: t.id)
        return ordered[min(int(pick * len(ordered)), len(ordered) - 1)]

    def start(self, koi: int) -> LoadTestOut:
        running = [t for t in self.tests() if t.status == "running"]
        if len(running) >= MAX_RUNNING:  # keep the pond small: stop the oldest first
            self.stop(min(running, key=lambda t: t.created_at))
        name = f"soak-{self._seed}-{next(self._numbers)}"
        spec = {"name": name, "target": self._pond.target_url, "behavior": BEHAVIOR, "workspace": WORKSPACE}

        def by_name(client: KeeperClient) -> LoadTestOut | None:
            return next((t for t in client.list_tests() if t.name == name), None)

        test = self._caller.call("start", lambda c: c.start_test(**spec, koi=min(koi, MAX_KOI)), by_name)
        self._ledger.made("test", (test.id, name))
        self._recorded(test.id, "test_created", None)
        return test

    def stop(self, test: LoadTestOut) -> None:
        reason = self.reason("stop")
        test_id = test.id
        self._caller.call("stop", lambda c: c.stop_test(test_id, reason), lambda c: self._event(c, test_id, reason))
        self._recorded(test_id, "test_stopped", reason)

    def _resume(self, pick: float) -> None:
        stopped = [t for t in self.tests() if t.status == "stopped"]
        if not stopped:
            test = self._pick(self._running(), pick)
            self.stop(test)
            stopped = [test]
        running = [t for t in self.tests() if t.status == "running"]
        if len(running) >= MAX_RUNNING:
            self.stop(min(running, key=lambda t: t.created_at))
        self.resume(self._pick(stopped, pick).id)

    def resume(self, test_id: str) -> None:
        reason = self.reason("resume")
        self._caller.call("resume", lambda c: c.resume_test(test_id, reason), lambda c: self._event(c, test_id, reason))
        self._recorded(test_id, "test_resumed", reason)

    def _change(self, what: str, test: LoadTestOut, body: dict[str, Any], kind: str) -> None:
        reason = self.reason(what)
        test_id = test.id
        self._caller.call(
            what, lambda c: c.update_test(test_id, **body, reason=reason), lambda c: self._event(c, test_id, reason)
        )
        self._recorded(test_id, kind, reason)

    @staticmethod
    def _event(client: KeeperClient, subject: str, reason: str) -> EventOut | None:
        events = client.test_events(subject, limit=50, newest_first=True)
        return next((e for e in events if e.reason == reason), None)

    def _recorded(self, test_id: str, kind: str, reason: str | None) -> None:
        events = self._caller.read("test events", lambda c: c.test_events(test_id))
        self._ledger.recorded(test_id, events, kind, reason)

    def _rollout_start(self, test: LoadTestOut, steps: list[int], hold: int) -> str:
        stages = [StageIn(koi=min(test.koi + step, MAX_KOI), hold=hold) for step in steps]
        stages = [s for i, s in enumerate(stages) if i == 0 or s.koi > stages[i - 1].koi]
        reason = self.reason("rollout")
        test_id = test.id

        def started(client: KeeperClient) -> RolloutOut | None:
            for rollout in client.list_rollouts():
                if rollout.test_id == test_id and self._transition(client, rollout.id, reason):
                    return rollout
            return None

        rollout = self._caller.call("rollout start", lambda c: c.start_rollout(test_id, stages, reason), started)
        self._ledger.made("rollout", rollout.id)
        self._rollout_recorded(rollout.id, reason)
        return rollout.id

    def _rollout_step(self, pick: float, action: str) -> None:
        made = self._ledger.rollouts
        active = [r for r in self._caller.read("list rollouts", lambda c: c.list_rollouts())
                  if r.id in made and r.status in ACTIVE_ROLLOUT]  # fmt: skip
        if not active:
            rollout_id = self._rollout_start(self._pick(self._steerable(), pick), [3, 6, 9], 30)
            active = [self._caller.read("show rollout", lambda c: c.show_rollout(rollout_id))]
        rollout = self._pick(active, pick)
        if rollout.status == "paused":
            action = action if action in ("resume", "abort") else "resume"
        elif action == "resume":
            action = "advance"
        if action == "resume":  # a rollout resumes only on a running test: resume the test first
            test_id = rollout.test_id
            if self._caller.read("show test", lambda c: c.show_test(test_id)).status == "stopped":
                self.resume(test_id)
        reason = self.reason(f"rollout {action}")
        rollout_id = rollout.id
        self._caller.call(
            f"rollout {action}",
            lambda c: c.rollout_action(rollout_id, action, reason),
            lambda c: self._transition(c, rollout_id, reason),
        )
        self._rollout_recorded(rollout_id, reason)

    @staticmethod
    def _transition(client: KeeperClient, rollout_id: str, reason: str) -> EventOut | None:
        transitions = client.show_rollout(rollout_id).transitions or []
        return next((t for t in transitions if t.reason == reason), None)

    def _rollout_recorded(self, rollout_id: str, reason: str) -> None:
        transitions = self._caller.read("show rollout", partial(_transitions, rollout_id=rollout_id))
        self._ledger.recorded(rollout_id, transitions, None, reason)
        self.expect_rollout_notifications(transitions)

    def expect_rollout_notifications(self, transitions: list[EventOut]) -> None:
        """Every rollout transition notifies once (``rollout#<event id>``), the tick's own ones included."""
        for transition in transitions:
            self._audit.expect(f"rollout#{transition.id}", f"rollout {transition.kind}")

    def track_rollouts(self) -> None:
        """Remember the transitions the release tick made on its own, and the notifications they owe."""
        for rollout_id in sorted(self._ledger.rollouts):
            transitions = self._caller.read("show rollout", partial(_transitions, rollout_id=rollout_id))
            self._ledger.saw(rollout_id, transitions)
            self.expect_rollout_notifications(transitions)

    def _key(self) -> None:
        name = f"soak-{self._seed}-{next(self._numbers)}"

        def by_name(client: KeeperClient) -> KeyOut | None:
            return next((k for k in client.list_keys() if k.name == name), None)

        key = self._caller.call("key", lambda c: c.create_key(name, "viewer"), by_name)
        self._ledger.made("key", key.id)

    def put_behavior(self) -> None:
        description = f"soak drill koi ({self.reason('behavior')})"
        document = {**SOAK_BEHAVIOR, "description": description}

        def stored(client: KeeperClient) -> BehaviorOut | None:
            latest = client.get_behavior(BEHAVIOR)
            return latest if latest.document.get("description") == description else None

        behavior = self._caller.call("behavior", lambda c: c.put_behavior(BEHAVIOR, document), stored)
        self._ledger.made("behavior", (BEHAVIOR, behavior.version))

    def _deploy(self) -> None:
        build = f"{self._seed}-{next(self._numbers)}"

        def recorded(client: KeeperClient) -> DeployOut | None:
            return next(iter(client.deploys(DEPLOY_SERVICE, build)), None)

        deploy = self._caller.call(
            "deploy", lambda c: c.record_deploy(DEPLOY_SERVICE, build, soak="30s", baseline="30s"), recorded
        )
        self._ledger.made("deploy", deploy.id)
        events = self._caller.read("deploy events", lambda c: c.deploy_events(deploy.id))
        self._ledger.recorded(f"deploy:{deploy.id}", events, "deploy_recorded", None)


def _transitions(client: KeeperClient, rollout_id: str) -> list[EventOut]:
    return client.show_rollout(rollout_id).transitions or []
