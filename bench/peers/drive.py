"""Run one peer tool (k6 or Locust) with N users of a behavior against a target, and read its window's figures.

The tool runs pinned to core 0; it prints a start marker (``T0_MARKER`` + Unix time) when its users
start, and the measurement window is ``[T0 + spread + settle, + window)`` on both sides: the tool
records schedule lag, calls and events inside it, this side reads the tool's CPU time, the busy time
of core 0 and the target's websocket gauge at its edges and the tool's RSS at its end.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import CLIENT_CORE, Target, core_busy_seconds, cpu_seconds, pinned, require, rss_bytes, stop_process

from peers.k6_user import T0_MARKER, k6_script
from peers.locust_user import locustfile

START_TIMEOUT_SECONDS = 300.0  # k6 initialises every VU before its setup() runs
EXIT_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class Timing:
    spread: float
    settle: float
    window: float


@dataclass
class Measured:
    """One run's window, as either side saw it."""

    summary: dict[str, Any]
    cpu: float  # share of core 0 the tool used in the window
    others: float  # share of core 0 other processes took in the window
    rss: int  # the tool's RSS at the window's end
    connected_start: int  # websockets the target held at the window's start and end (-1: not known)
    connected_end: int
    target_cpu: float  # share of core 1 the target used in the window


def k6_command(tmp: Path, target: Target, n: int, t: Timing) -> tuple[list[str], dict[str, str], Path]:
    summary = tmp / "summary.json"
    argv = [require("k6"), "run", "--quiet", "--no-usage-report", "--log-format", "raw"]
    settings = {"VUS": n, "USERS": tmp / "users.json", "TARGET": target.url, "SUMMARY": summary}
    settings |= {"SPREAD": t.spread, "SETTLE": t.settle, "WINDOW": t.window}
    for key, value in settings.items():
        argv += ["-e", f"{key}={value}"]
    env = {**os.environ, "GOMAXPROCS": "1", "K6_NO_USAGE_REPORT": "true"}
    return [*argv, str(tmp / "user.js")], env, summary


def locust_command(tmp: Path, target: Target, n: int, t: Timing) -> tuple[list[str], dict[str, str], Path]:
    summary = tmp / "summary.json"
    run_time = int(t.spread + t.settle + t.window + 120)
    argv = [require("locust"), "-f", str(tmp / "locustfile.py"), "--headless", "-u", str(n)]
    argv += ["-r", f"{n / t.spread:.3f}", "--run-time", f"{run_time}s", "--only-summary", "--loglevel", "WARNING"]
    env = {**os.environ, "KOI_USERS": str(tmp / "users.json"), "KOI_TARGET": target.url, "KOI_SUMMARY": str(summary)}
    env |= {"KOI_SPREAD": str(t.spread), "KOI_SETTLE": str(t.settle), "KOI_WINDOW": str(t.window)}
    return argv, env, summary


Command = Callable[[Path, Target, int, Timing], tuple[list[str], dict[str, str], Path]]
TOOLS: dict[str, tuple[str, Callable[[dict[str, Any]], str], Command]] = {
    "k6": ("user.js", k6_script, k6_command),
    "locust": ("locustfile.py", locustfile, locust_command),
}


class _StartWatch:
    """Reads a tool's stderr: its start marker, and the last lines to show if it fails."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.t0: float | None = None
        self.started = threading.Event()
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith(T0_MARKER) and self.t0 is None:
                self.t0 = float(line.removeprefix(T0_MARKER))
                self.started.set()
            else:
                self.tail.append(line.rstrip())


def _held(target: Target) -> int:
    """The target's websocket gauge; -1 when a saturated target does not answer /metrics in time."""
    try:
        return target.websocket_connections()
    except OSError:
        return -1


def _sleep_until(at: float) -> None:
    time.sleep(max(0.0, at - time.time()))


def run_peer(tool: str, target: Target, spec: dict[str, Any], users: list[dict[str, Any]], t: Timing) -> Measured:
    """Run ``tool`` with ``len(users)`` users against ``target``; the window's figures.

    Raises:
        RuntimeError: the tool did not start, or ended without its summary.
    """
    script_name, generate, command = TOOLS[tool]
    with tempfile.TemporaryDirectory(prefix=f"bench-kpc-{tool}-") as name:
        tmp = Path(name)
        (tmp / "users.json").write_text(json.dumps(users))
        (tmp / script_name).write_text(generate(spec))
        argv, env, summary_file = command(tmp, target, len(users), t)
        proc = subprocess.Popen(
            pinned(CLIENT_CORE, argv), env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        watch = _StartWatch(proc)
        try:
            if not watch.started.wait(START_TIMEOUT_SECONDS) or watch.t0 is None:
                raise RuntimeError(f"{tool} did not start: " + " | ".join(watch.tail))
            start = watch.t0 + t.spread + t.settle
            _sleep_until(start)
            cpu0, busy0, held0 = cpu_seconds(proc.pid), core_busy_seconds(CLIENT_CORE), _held(target)
            target0 = cpu_seconds(target.proc.pid)
            _sleep_until(start + t.window)
            cpu = cpu_seconds(proc.pid) - cpu0
            busy = core_busy_seconds(CLIENT_CORE) - busy0
            rss, held1 = rss_bytes(proc.pid), _held(target)
            target_cpu = cpu_seconds(target.proc.pid) - target0
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(EXIT_TIMEOUT_SECONDS)
        finally:
            stop_process(proc)  # type: ignore[arg-type]  # it only signals and waits
        if not summary_file.exists():
            raise RuntimeError(f"{tool} left no summary (exit {proc.returncode}): " + " | ".join(watch.tail))
        summary = json.loads(summary_file.read_text())
    others = max(0.0, busy - cpu) / t.window
    return Measured(summary, cpu / t.window, others, rss, held0, held1, target_cpu / t.window)
