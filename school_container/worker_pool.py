"""A School's worker processes, behind the same port as one in-process koi host (``KoiHosting``).

The supervisor (the School's own process) polls; each worker (:mod:`school_container.worker`) hosts the
koi whose index % N is its number. Orders go to every worker; a worker that exits is started again
(with backoff) and given the last orders, so its koi come back without waiting for a poll. A
worker's counts survive it in ``/metrics`` (as of the last scrape), so the School's counters do not
fall back when one is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import Metric

from koipond import metric_names as mn
from koipond.backoff import full_jitter_seconds
from school_container import metrics_merge
from school_container.orders import KoiOrder, Slot, orders_to_wire, summed
from school_container.settings import SchoolSettings, settings_to_wire

log = logging.getLogger("koipond.school.workers")
LINE_LIMIT = 64 * 2**20
RESTART_BASE_SECONDS = 0.5
RESTART_CAP_SECONDS = 30.0
STEADY_SECONDS = 60.0  # a worker that lived this long starts its next restart from the shortest delay
EXIT_SECONDS = 5.0  # after its drain, how long a worker may take to exit before it is killed
# A count or an exposition is answered at once; a worker that takes longer is stuck, and a poll or a
# scrape goes on without it. Orders may take long (tokens for thousands of koi): they are awaited.
QUICK_ANSWER_SECONDS = 10.0


class PoolMetrics:
    """The supervisor's own metrics about its workers (registered beside its SchoolMetrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.restarts = Counter(
            mn.SCHOOL_WORKER_RESTARTS, "Worker processes restarted after they exited.", registry=registry
        )
        self.up = Gauge(mn.SCHOOL_WORKERS, "Worker processes running.", registry=registry)


class WorkerProcess:
    """One worker: its process, and requests paired with answers by id."""

    def __init__(self, slot: Slot, hello: dict[str, Any]) -> None:
        self.slot = slot
        self._hello = hello
        self._process: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any] | None]] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None
        self.exited = asyncio.Event()
        self.started_at = 0.0
        self.koi = 0  # as it last said
        self.last_metrics: list[Metric] = []

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "school_container.worker",
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        self.exited.clear()
        self.started_at = time.monotonic()
        self._send({**self._hello, "slot": [self.slot.worker, self.slot.workers]})
        self._reader = asyncio.create_task(self._read(self._process), name=f"worker-{self.slot.worker}-reader")
        log.info("worker %d of %d started (pid %d)", self.slot.worker, self.slot.workers, self._process.pid)

    async def request(self, op: str, within: float | None = None, **body: Any) -> dict[str, Any] | None:
        """The worker's answer, or None if it is not running, exits first or does not answer ``within`` seconds."""
        if self._process is None or self.exited.is_set():
            return None
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._send({"id": request_id, "op": op, **body})
        try:
            answer = await asyncio.wait_for(future, within)
        except TimeoutError:
            self._pending.pop(request_id, None)
            log.error("worker %d did not answer %s within %.0fs", self.slot.worker, op, within)
            return None
        if answer is not None and "error" in answer:
            log.error("worker %d could not %s: %s", self.slot.worker, op, answer["error"])
            return None
        if answer is not None and "running" in answer:
            self.koi = sum(answer["running"].values())
        return answer

    def _send(self, message: dict[str, Any]) -> None:
        if self._process is None or self._process.stdin is None or self._process.stdin.is_closing():
            return
        self._process.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None  # started with stdout=PIPE
        try:
            while line := await process.stdout.readline():
                answer = json.loads(line)
                future = self._pending.pop(answer["id"], None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (ValueError, OSError) as exc:
            log.error("worker %d sent what is not an answer (%s); ending it", self.slot.worker, exc)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        code = await process.wait()
        self.koi = 0
        for future in self._pending.values():
            if not future.done():
                future.set_result(None)
        self._pending.clear()
        self.exited.set()
        log.log(logging.INFO if code == 0 else logging.ERROR, "worker %d exited with %s", self.slot.worker, code)

    async def finish(self, grace: float) -> None:
        """Close its stdin (it stops its koi and exits); kill it if it has not exited ``grace`` seconds later."""
        process = self._process
        if process is None or self.exited.is_set():
            return
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        try:
            await asyncio.wait_for(self.exited.wait(), grace)
        except TimeoutError:
            log.warning("worker %d did not exit within %.0fs; killing it", self.slot.worker, grace)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await self.exited.wait()


class WorkerPool:
    """N worker processes hosting a School's koi by index; implements ``KoiHosting``."""

    def __init__(self, workers: int, settings: SchoolSettings, registry: CollectorRegistry) -> None:
        hello = {"settings": settings_to_wire(settings)}
        self.workers = [WorkerProcess(Slot(w, workers), hello) for w in range(workers)]
        self._metrics = PoolMetrics(registry)
        self._registry = registry
        self._drain_seconds = settings.drain_seconds
        self._orders: Sequence[KoiOrder] = ()
        self._retired: list[Metric] = []  # counts of worker processes that exited (as last scraped)
        self._closing = asyncio.Event()
        self._watchers: list[asyncio.Task[None]] = []
        self._rng = random.Random()  # noqa: S311 - restart jitter, not security

    async def start(self) -> None:
        for worker in self.workers:
            await worker.start()
            self._watchers.append(asyncio.create_task(self._keep_running(worker)))
        self._metrics.up.set(len(self.workers))

    async def apply(self, orders: Sequence[KoiOrder]) -> dict[str, int]:
        self._orders = orders
        wire = orders_to_wire(orders)
        return await self._sum("assign", orders=wire)

    async def stop_all(self, reason: str) -> None:
        self._orders = ()
        await self._sum("stop", reason=reason)

    async def running(self) -> dict[str, int]:
        return await self._sum("count", within=QUICK_ANSWER_SECONDS)

    async def _sum(self, op: str, within: float | None = None, **body: Any) -> dict[str, int]:
        answers = await asyncio.gather(*(w.request(op, within, **body) for w in self.workers))
        return summed(a["running"] for a in answers if a is not None)

    def describe(self) -> list[dict[str, int | None]]:
        """Each worker's process id (None while it restarts) and koi, as last reported: for ``/healthz``."""
        return [
            {"worker": w.slot.worker, "pid": None if w.exited.is_set() else w.pid, "koi": w.koi} for w in self.workers
        ]

    async def metrics(self) -> bytes:
        """The whole School's exposition: the supervisor's own, every live worker's, and what exited ones counted."""
        answers = await asyncio.gather(*(w.request("metrics", QUICK_ANSWER_SECONDS) for w in self.workers))
        live = []
        for worker, answer in zip(self.workers, answers, strict=True):
            # A worker that exited since it answered was retired with its previous exposition: leave it out.
            if answer is not None and not worker.exited.is_set():
                worker.last_metrics = metrics_merge.parse(str(answer["metrics"]))
                live.append(worker.last_metrics)
        own = metrics_merge.parse(generate_latest(self._registry).decode())
        return metrics_merge.render(metrics_merge.merge([own, self._retired, *live]))

    async def _keep_running(self, worker: WorkerProcess) -> None:
        """Whenever ``worker`` exits (other than at close): start it again after a backoff, with the last orders."""
        attempt = 0
        while True:
            await worker.exited.wait()
            if self._closing.is_set():
                return
            self._metrics.up.dec()
            self._retired = metrics_merge.merge([self._retired, metrics_merge.cumulative(worker.last_metrics)])
            worker.last_metrics = []
            attempt = 0 if time.monotonic() - worker.started_at > STEADY_SECONDS else attempt + 1
            while True:
                # Never at once (a worker that dies on start would spin), and later after each quick death.
                delay = RESTART_BASE_SECONDS / 2 + full_jitter_seconds(
                    attempt, RESTART_BASE_SECONDS, RESTART_CAP_SECONDS, self._rng
                )
                log.warning("worker %d exited; restarting it in %.1fs with its koi", worker.slot.worker, delay)
                await asyncio.sleep(delay)
                if self._closing.is_set():
                    return
                try:
                    await worker.start()
                    break
                except OSError as exc:
                    log.error("worker %d could not start: %s", worker.slot.worker, exc)
                    attempt += 1
            self._metrics.restarts.inc()
            self._metrics.up.inc()
            if self._orders:
                await worker.request("assign", orders=orders_to_wire(self._orders))

    async def close(self) -> None:
        """Stop every koi, then every worker (bounded by the drain time), and stop restarting them."""
        self._closing.set()
        for watcher in self._watchers:
            watcher.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_all("drained"), timeout=self._drain_seconds + 1)
        await asyncio.gather(*(w.finish(EXIT_SECONDS) for w in self.workers))
        self._metrics.up.set(0)
