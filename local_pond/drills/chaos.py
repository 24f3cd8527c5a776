"""Faults: kill -9 a pond process and start it again, make the bundled target fail, slow down, drop sockets."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from local_pond.drills.conditions import AWS, KEEPER, PondConditions
from local_pond.drills.findings import Findings
from local_pond.pond import LocalPond
from local_pond.processes import PondProcess

START_TIMEOUT_SECONDS = 60.0
PROCESSES_UP = "pond processes stay up"
WORKER_MODULE = b"local_pond.lambda_worker"


@dataclass
class _Restart:
    process: PondProcess
    at: float  # time.monotonic() when it is due
    checked: bool  # start() waits for its health URL; the periodic jobs serve none
    condition: str | None = None  # what is back (for the observer) once it runs again


class Chaos:
    """Injects one fault at a time; processes killed for a while are restarted by :meth:`restart_due`."""

    def __init__(self, pond: LocalPond, findings: Findings, conditions: PondConditions) -> None:
        self._pond = pond
        self._findings = findings
        self._conditions = conditions
        self._restarts: list[_Restart] = []
        self._target_faults: dict[str, float] = {}  # route -> time.monotonic() its fault ends

    def inject(self, kind: str, params: dict[str, Any]) -> bool:
        """Inject a fault of ``kind``; False (with the reason recorded) when it cannot be injected."""
        match kind:
            case "keeper_crash":
                return self._keeper_crash(float(params["down"]))
            case "keeper_worker_crash":
                return self._keeper_worker_crash()
            case "school_crash":
                school = self._pond.schools[int(params["school"]) - 1]
                return self._crash(kind, school, float(params["down"]), checked=True)
            case "guard_crash" | "tick_crash" | "token_worker_crash":
                return self._crash(kind, self._job(kind), float(params["down"]), checked=False)
            case "aws_crash":
                return self._aws_crash(clean=bool(params["clean"]))
            case "target_errors":
                spec = {k: params[k] for k in ("route", "error_rate", "status")}
                return self._target_fault(spec, float(params["seconds"]))
            case "target_slow":
                spec = {"route": params["route"], "added_latency_ms": params["latency_ms"]}
                return self._target_fault(spec, float(params["seconds"]))
            case "target_ws_reset":
                self._pond.target_faults("PUT", {"route": "*", "reset_websockets": True})
                return True
        raise ValueError(f"unknown fault kind {kind!r}")

    def _job(self, kind: str) -> PondProcess | None:
        return {"guard_crash": self._pond.guard, "tick_crash": self._pond.tick}.get(kind, self._pond.token_worker)

    def _crash(
        self, kind: str, process: PondProcess | None, down: float, *, checked: bool, condition: str | None = None
    ) -> bool:
        if process is None:
            self._findings.skip(kind, "this pond does not run it")
            return False
        if not process.running:
            self._findings.note(f"{kind}: {process.name} is down already")
            return False
        if condition is not None:
            self._conditions.away(condition)
        process.kill()
        self._restarts.append(_Restart(process, time.monotonic() + down, checked, condition))
        return True

    def _keeper_crash(self, down: float) -> bool:
        """Kill the Keeper; it starts again after ``down`` seconds, when the schedule or a retried call
        waiting for it calls :meth:`restart_due` (calls made meanwhile fail and are retried)."""
        return self._crash("keeper_crash", self._pond.keeper, down, checked=True, condition=KEEPER)

    def _keeper_worker_crash(self) -> bool:
        """Kill one of the Keeper's worker processes (a Lambda execution environment dying mid-request)."""
        popen = self._pond.keeper.popen
        workers = _children(popen.pid, WORKER_MODULE) if popen is not None else []
        if not workers:
            self._findings.skip("keeper_worker_crash", "no Keeper worker process found")
            return False
        os.kill(workers[0], signal.SIGKILL)
        return True

    def _aws_crash(self, *, clean: bool) -> bool:
        restart = getattr(self._pond, "restart_aws", None)
        if restart is None or not getattr(self._pond.config, "persistent", False):
            self._findings.skip("aws_crash", "this pond cannot keep the embedded AWS's state across a restart")
            return False
        self._conditions.away(AWS)
        try:
            restart(crash=not clean)
        finally:
            self._conditions.back(AWS)
        return True

    def _target_fault(self, spec: dict[str, Any], seconds: float) -> bool:
        self._pond.target_faults("PUT", spec)
        route = str(spec["route"])
        self._target_faults[route] = time.monotonic() + seconds
        self._conditions.set_latency(route, int(spec.get("added_latency_ms", 0)) / 1000)
        return True

    def restart_due(self, everything: bool = False) -> None:
        """Start again every killed process whose down time is over (all of them with ``everything``);
        clear the target faults whose time is over. Only the thread running the schedule calls this.

        Raises:
            RuntimeError: a process did not come back (its log's tail is in the message).
        """
        now = time.monotonic()
        for restart in [r for r in self._restarts if everything or r.at <= now]:
            self._restarts.remove(restart)
            self._start(restart)
        for route, ends in list(self._target_faults.items()):
            if everything or ends <= now:
                self.clear_target_fault(route)

    def restart_keeper_now(self) -> None:
        """Bring the Keeper back at once if it is down (before a step that times the Keeper's answers)."""
        for restart in [r for r in self._restarts if r.process is self._pond.keeper]:
            self._restarts.remove(restart)
            self._start(restart)

    def _start(self, restart: _Restart) -> None:
        try:
            if restart.checked:
                restart.process.start(timeout=START_TIMEOUT_SECONDS)
            else:
                restart.process.start_unchecked()
        finally:
            if restart.condition is not None:
                self._conditions.back(restart.condition)

    def clear_target_fault(self, route: str) -> None:
        clear_target_fault(self._pond, route)
        self._target_faults.pop(route, None)
        self._conditions.set_latency(route, 0.0)

    def check_alive(self) -> None:
        """Every pond process the drill did not kill still runs; one that ended on its own is a violation
        (with the last line of its log), and is started again so the drill goes on."""
        killed = {id(r.process) for r in self._restarts}
        for process in self._pond.processes:
            if id(process) in killed:
                continue
            if process.running:
                self._findings.check(PROCESSES_UP, True)
                continue
            self._findings.check(PROCESSES_UP, False, _exited(process))
            self._start(_Restart(process, 0.0, checked=bool(process.health_url)))


def _exited(process: PondProcess) -> str:
    code = process.popen.returncode if process.popen is not None else None
    last = process.log_tail(1).strip()[-300:]
    return f"{process.name} exited on its own with {code}; its log ends: {last}"


def clear_target_fault(pond: LocalPond, route: str) -> None:
    """Clear one route's fault at the bundled target, leaving the others'.

    Raises:
        httpx.HTTPError: the target did not answer, or refused.
    """
    headers = {"authorization": f"Bearer {pond.config.target_admin_token}"}
    url = f"{pond.target_url}/admin/faults"
    httpx.delete(url, params={"route": route}, headers=headers, timeout=5).raise_for_status()


def _children(parent: int, module: bytes) -> list[int]:
    """Processes whose parent is ``parent`` and whose command line names ``module``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and module in cmdline:
            found.append(int(entry.name))
    return sorted(found)
