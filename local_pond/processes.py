"""Starting, watching and stopping the pond's processes (each component is its own OS process)."""

from __future__ import annotations

import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this child when its parent dies, so a killed pond leaves no orphans."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


# Listening ports come from below the kernel's ephemeral range: a port the kernel hands out for bind(0)
# may be taken by any outgoing connection (a School's koi open thousands) before the server binds it.
LISTEN_PORTS = range(20_000, 32_768)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, outside the range outgoing connections draw from."""
    low = _ephemeral_low()
    candidates = [p for p in LISTEN_PORTS if p < low] or list(range(1024, low))
    for port in random.sample(candidates, min(50, len(candidates))):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port on {host} below the ephemeral range (from {low})")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


@dataclass
class PondProcess:
    """One component process; its output goes to ``log_path``."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str
    # The program; by default koipond's own CLI (args are then its sub-command and options).
    program: list[str] = field(default_factory=lambda: [sys.executable, "-m", "koipond_cli.main"])
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until its health URL answers.

        Raises:
            RuntimeError: it exited or did not become healthy in time; the message quotes its log.
        """
        self._spawn()
        self._wait_healthy(timeout)

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603 - our own CLI, argv list, no shell
            [*self.program, *self.args],
            # Unbuffered: a log read while the process runs (or after it is killed) is complete.
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches `up`, which stops children in order
            preexec_fn=_die_with_parent,  # only calls prctl: safe between fork and exec
        )

    def start_unchecked(self) -> None:
        """Start a process that serves nothing to probe (a periodic job such as the guard)."""
        self._spawn()

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.health_url, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy after {timeout:.0f}s at {self.health_url}:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        if self._log:
            self._log.close()

    def kill(self) -> None:
        """Kill abruptly, as a crash or an OOM kill would."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
