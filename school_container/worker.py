"""A School worker process: hosts its share of the School's koi, as its supervisor orders over stdin/stdout.

Started by :mod:`school_container.worker_pool` as ``python -m school_container.worker``. Its first line
in is a hello (its slot and the School's settings); then each line in is a request, each line out the
answer to one (JSON, ``id`` pairs them). It never talks to the Keeper. It ends when its supervisor does:
Linux sends it SIGTERM when the supervisor dies (``PR_SET_PDEATHSIG``), and the end of its stdin means
the same on any system; either way it stops its koi (within the drain time) and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
from typing import Any

from prometheus_client import generate_latest

from school_container.descriptors import raise_open_file_limit
from school_container.koi_host import KoiHost
from school_container.koi_parts import token_source, web_api_for
from school_container.memory import freeze_survivors, tune_collector
from school_container.metrics import SchoolMetrics
from school_container.orders import Slot, orders_from_wire
from school_container.settings import SchoolSettings, settings_from_wire

log = logging.getLogger("koipond.school.worker")
LINE_LIMIT = 64 * 2**20  # an order names every test with its behavior; an exposition lists every series
_PR_SET_PDEATHSIG = 1


class WorkerServer:
    """Answers the supervisor's requests; orders (assign, stop) apply one at a time, in the order sent."""

    def __init__(self, host: KoiHost, metrics: SchoolMetrics, out: asyncio.StreamWriter) -> None:
        self._host = host
        self._metrics = metrics
        self._out = out
        self._orders = asyncio.Lock()  # FIFO: the last order sent is the last applied
        self._tasks: set[asyncio.Task[None]] = set()

    def received(self, line: bytes) -> None:
        task = asyncio.create_task(self._answer(json.loads(line)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: dict[str, Any]) -> None:
        try:
            answer = {"id": request["id"], **await self._perform(request)}
        except Exception as exc:  # a bug answering one request must not leave the supervisor waiting
            log.exception("request %s failed", request.get("op"))
            answer = {"id": request["id"], "error": f"{type(exc).__name__}: {exc}"}
        self._out.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
        await self._out.drain()

    async def _perform(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "assign":
            async with self._orders:
                return {"running": await self._host.apply(orders_from_wire(request["orders"]))}
        if op == "stop":
            async with self._orders:
                await self._host.stop_all(str(request["reason"]))
                return {"running": self._host.counts()}
        if op == "count":
            return {"running": self._host.counts()}
        if op == "metrics":
            return {"metrics": generate_latest(self._metrics.registry).decode()}
        raise ValueError(f"unknown request {op!r}")

    async def drain(self, reason: str, seconds: float) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._host.stop_all(reason), timeout=seconds)


async def serve(protocol_out: int) -> None:
    """Read the hello, then answer requests until stdin ends or SIGTERM; then stop every koi."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(protocol_out, "wb", buffering=0)
    )
    out = asyncio.StreamWriter(transport, protocol, None, loop)
    first = await reader.readline()
    if not first:
        return  # the supervisor went away before it said hello
    hello = json.loads(first)
    slot = Slot(*hello["slot"])
    settings: SchoolSettings = settings_from_wire(hello["settings"])
    raise_open_file_limit()
    metrics = SchoolMetrics()
    web_api = web_api_for(settings)
    host = KoiHost(web_api, token_source(settings), metrics, settings.startup_spread_seconds, slot)
    server = WorkerServer(host, metrics, out)
    ended = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, ended.set)
    tune_collector()
    freezer = asyncio.create_task(freeze_survivors())
    reading = asyncio.create_task(_read(reader, server, ended))
    log.info("worker %d of %d hosting koi (pid %d)", slot.worker, slot.workers, os.getpid())
    await ended.wait()
    reading.cancel()
    freezer.cancel()
    await server.drain("the supervisor is gone", settings.drain_seconds + 1)
    await web_api.close()


async def _read(reader: asyncio.StreamReader, server: WorkerServer, ended: asyncio.Event) -> None:
    try:
        while line := await reader.readline():
            server.received(line)
    finally:
        ended.set()  # the supervisor closed our stdin (or died): nothing steers these koi any more


def _die_with_supervisor(supervisor: int) -> None:
    """Ask Linux to SIGTERM this worker when its supervisor dies, so a killed School leaves no koi running."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the request above took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    import uvloop

    supervisor = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    protocol_out = os.dup(1)
    os.dup2(2, 1)  # a stray print goes to the log, never into the protocol
    # Ctrl-C in a terminal reaches the whole process group; the supervisor drains its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_supervisor(supervisor)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvloop.run(serve(protocol_out))


if __name__ == "__main__":
    main()
