"""Shared bench plumbing: core pinning, free ports, nginx and the bundled target as subprocesses, RSS, tables."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from koipond import metric_names as mn

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLIENT_CORE = 0  # the tool being measured
SERVER_CORE = 1  # nginx or the bundled target
OK_BODY = '{"ok":true}'
CLK_TCK = os.sysconf("SC_CLK_TCK")


def quick() -> bool:
    """``BENCH_QUICK=1``: small N and short durations, for a smoke run."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def pinned(core: int, argv: Sequence[str]) -> list[str]:
    """``argv`` run with ``taskset -c core``: every process of the tool shares that one core."""
    return ["taskset", "-c", str(core), *argv]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_open_files(want: int = 0) -> int:
    """Raise RLIMIT_NOFILE to ``want`` if allowed, else soft to hard (children inherit it); return the limit.

    Raising the hard limit needs CAP_SYS_RESOURCE (root alone is not enough in a container without it).
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want > hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of one process, from /proc (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of one process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def core_busy_seconds(core: int) -> float:
    """Time core ``core`` spent running anything (user, nice, system, irq, softirq), from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in line.split()[1:8])
            return (user + nice + system + irq + softirq) / CLK_TCK
    raise RuntimeError(f"no cpu{core} in /proc/stat")


class CpuSampler:
    """One process's CPU time, sampled in a thread, to read its share of a core over an interval known later."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []  # (Unix time, CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            with contextlib.suppress(OSError):  # the process is gone
                self.samples.append((time.time(), cpu_seconds(self.pid)))
            if self._stop.wait(self.every):
                return

    def share(self, start: float, end: float) -> float:
        """Share of one core used between the first and last samples inside ``[start, end]`` (Unix seconds)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            raise RuntimeError(f"fewer than two CPU samples of process {self.pid} in the window")
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return (c1 - c0) / (t1 - t0)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (e.g. nginx's worker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Signal one process we started and wait for it; kill it if it will not go."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def require(tool: str) -> str:
    """The path of ``tool`` (the venv first), or exit 1 saying how to get it."""
    for candidate in (BIN / tool, shutil.which(tool)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    sys.exit(f"bench: {tool} not found; `make bench` installs it (apt-get nginx-light wrk; k6, locust: bench group)")


# --- nginx: the throughput target --------------------------------------------------------------------


NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""


@dataclass
class Nginx:
    """nginx on SERVER_CORE answering every request with ``{"ok":true}`` (a static 11-byte JSON body)."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ok"

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) or [self.proc.pid]

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in [self.proc.pid, *self.worker_pids()])


@contextlib.contextmanager
def nginx() -> Iterator[Nginx]:
    binary = require("nginx")
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        port = free_port()
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, port=port, body=OK_BODY))
        proc = subprocess.Popen(pinned(SERVER_CORE, [binary, "-p", tmp, "-c", str(conf)]))
        try:
            wait_for_port(port, 10, proc)
            yield Nginx(proc, port)
        finally:
            stop_process(proc, signal.SIGQUIT)


# --- the bundled target: the realistic scenario ------------------------------------------------------


@dataclass
class Target:
    """``koipond target`` on SERVER_CORE, with a known secret and admin token."""

    proc: subprocess.Popen[bytes]
    port: int
    secret: str
    admin_token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str) -> float:
        """Sum of every sample of ``name`` on the target's /metrics (0 when absent)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:  # noqa: S310 - our own target
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def websocket_connections(self) -> int:
        return int(self.metric(mn.TARGET_WEBSOCKET_CONNECTIONS))

    def mint(self, workspace: str, count: int) -> list[str]:
        """Tokens of users ``[0, count)`` via the admin endpoint, as any client of the target would get them."""
        tokens: list[str] = []
        for start in range(0, count, 10_000):
            body = json.dumps({"workspace": workspace, "start": start, "end": min(count, start + 10_000)}).encode()
            request = urllib.request.Request(  # noqa: S310 - our own target
                f"{self.url}/api/admin.tokens.mint",
                data=body,
                headers={"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                answer = json.loads(response.read())
            if not answer.get("ok"):
                raise RuntimeError(f"admin.tokens.mint failed: {answer.get('error')}")
            tokens += [answer["tokens"][str(i)] for i in range(start, min(count, start + 10_000))]
        return tokens

    def wait_for_websockets(self, want: int, timeout: float, at_least: bool = True) -> int:
        """Poll the target's websocket gauge until it reaches ``want`` (or drops to it); return the last value."""
        deadline = time.monotonic() + timeout
        seen = self.websocket_connections()
        while time.monotonic() < deadline:
            if (seen >= want) if at_least else (seen <= want):
                break
            time.sleep(0.5)
            seen = self.websocket_connections()
        return seen


@contextlib.contextmanager
def bundled_target() -> Iterator[Target]:
    port = free_port()
    secret, admin = secrets.token_hex(16), secrets.token_urlsafe(16)
    env = {**os.environ, "KOIPOND_TARGET_SECRET": secret, "KOIPOND_TARGET_ADMIN_TOKEN": admin}
    argv = [str(BIN / "koipond"), "target", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(pinned(SERVER_CORE, argv), env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30, proc)
        yield Target(proc, port, secret, admin)
    finally:
        stop_process(proc, signal.SIGTERM, 20)


# --- reporting ---------------------------------------------------------------------------------------


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    for line in [list(headers), *cells]:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        print("  " + "  ".join(padded))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(met: bool, target: str, measured: str) -> None:
    print(f"{'PASS' if met else 'MISS'}  {target}: {measured}")


def note(text: str) -> None:
    print(textwrap.fill(text, width=110, initial_indent="note: ", subsequent_indent="      "))
