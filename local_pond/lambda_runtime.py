"""Local Lambda execution environments: the handler in worker processes (or, for tests, in this process).

Each worker process (:mod:`local_pond.lambda_worker`) is one execution environment, as on Lambda:
it imports the handler once and runs one event at a time. Processes, not threads, because
Powertools' resolver keeps the request being resolved in process-global state
(``BaseRouter.current_event``, the app's ``context``): two threads resolving at once would read each
other's headers, the bearer token included.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from local_pond.lambda_worker import FRAME, READY, HandlerFailedError, LambdaHandler, LocalLambdaContext

DEFAULT_WORKERS = 4


class AllWorkersBusyError(Exception):
    """No execution environment became free in time (Lambda would throttle)."""


class Invoker(Protocol):
    """Runs events through the handler; the HTTP server owns one."""

    def launch(self) -> None: ...

    async def start(self) -> None: ...

    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class InProcessInvoker:
    """The handler in this process, one event at a time, off the event loop (tests inject a Keeper this way).

    No invoke timeout: a thread cannot be stopped, so a stuck handler holds every later request.
    """

    def __init__(self, handler: LambdaHandler, function_name: str) -> None:
        self._handler = handler
        self._function_name = function_name
        # One thread: Powertools' per-request state is process-global (see the module docstring).
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=function_name)

    def launch(self) -> None:
        return None

    async def start(self) -> None:
        return None

    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._thread, self._call, event)
        except Exception as exc:
            traceback.print_exc()
            raise HandlerFailedError(f"{type(exc).__name__}: {exc}") from exc
        return _response_or_raise(result)

    def _call(self, event: dict[str, Any]) -> Any:
        return self._handler(event, LocalLambdaContext(self._function_name))

    async def close(self) -> None:
        self._thread.shutdown(wait=False)


class _Worker:
    """One worker process and the parent's end of its socket."""

    def __init__(self, process: subprocess.Popen[bytes], channel: socket.socket) -> None:
        self.process = process
        self._channel = channel
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None:
            self._streams = await asyncio.open_unix_connection(sock=self._channel)
        return self._streams

    async def send(self, message: dict[str, Any]) -> None:
        _, writer = await self._open()
        data = json.dumps(message).encode()
        writer.write(FRAME.pack(len(data)) + data)
        await writer.drain()

    async def receive(self) -> Any:
        reader, _ = await self._open()
        try:
            (length,) = FRAME.unpack(await reader.readexactly(FRAME.size))
            return json.loads(await reader.readexactly(length))
        except asyncio.IncompleteReadError as exc:
            raise HandlerFailedError("the worker process exited") from exc

    def close_channel(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
        else:
            self._channel.close()

    def kill(self) -> None:
        self.process.kill()  # Popen skips a process it has already reaped

    async def stop(self, grace_seconds: float) -> None:
        """Close its socket (it exits when it reads EOF); kill it if it is still busy after ``grace_seconds``."""
        self.close_channel()
        try:
            await asyncio.to_thread(self.process.wait, grace_seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            await asyncio.to_thread(self.process.wait)


class WorkerProcessInvoker:
    """``workers`` worker processes, each running one event at a time, like concurrent Lambda environments."""

    def __init__(self, handler_path: str, function_name: str, workers: int, invoke_timeout: float) -> None:
        if workers < 1:
            raise ValueError("at least one worker process is needed")
        self._handler_path = handler_path
        self._function_name = function_name
        self._size = workers
        self._invoke_timeout = invoke_timeout
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._starting: set[asyncio.Task[None]] = set()
        self._closing = False
        self._first: _Worker | None = None
        # The parent's import path, so a worker imports the very handler this process would.
        self._env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path if p)}

    def launch(self) -> None:
        """Start the first worker process now, before any event loop: it imports the handler meanwhile."""
        if self._first is None:
            self._first = self._launch()

    def _launch(self) -> _Worker:
        parent_end, child_end = socket.socketpair()
        with child_end:
            process = subprocess.Popen(  # noqa: S603 - this interpreter and module, argv list, no shell
                [
                    sys.executable,
                    "-m",
                    "local_pond.lambda_worker",
                    self._handler_path,
                    self._function_name,
                    str(child_end.fileno()),
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=[child_end.fileno()],
                env=self._env,
            )
        worker = _Worker(process, parent_end)
        self._all.add(worker)
        return worker

    async def _ready(self, worker: _Worker) -> _Worker:
        if await worker.receive() != READY:
            raise HandlerFailedError(f"the worker for {self._handler_path} did not start")
        return worker

    async def start(self) -> None:
        """Wait until the first worker has imported the handler; the others start then, while it serves.

        One at a time, so that a restarted Keeper answers polls as soon as it can (before Schools miss
        enough of them to count as dead) rather than after every worker has imported the handler, and
        so that importing workers leave the serving ones a CPU.

        Raises:
            HandlerFailedError: the first worker could not import the handler (its traceback is on stderr).
        """
        self.launch()
        assert self._first is not None
        self._idle.put_nowait(await self._ready(self._first))
        self._start_in_background(self._size - 1)

    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The handler's response to ``event``.

        Raises:
            AllWorkersBusyError: no worker became free within ``invoke_timeout``.
            TimeoutError: the handler ran past ``invoke_timeout`` (its worker is replaced).
            HandlerFailedError: the handler raised or its worker died (a dead worker is replaced).
        """
        try:
            worker = await asyncio.wait_for(self._idle.get(), self._invoke_timeout)
        except TimeoutError as exc:
            raise AllWorkersBusyError(f"all {self._size} workers stayed busy") from exc
        try:
            await worker.send(event)
            answer = await asyncio.wait_for(worker.receive(), self._invoke_timeout)
        except BaseException as exc:
            # Its answer may still arrive: it must never be read as the next event's. A cancelled
            # invocation means the server is stopping, so nothing replaces the worker then.
            self._retire(worker, replace=not isinstance(exc, asyncio.CancelledError))
            raise
        self._idle.put_nowait(worker)
        if "error" in answer:
            raise HandlerFailedError(str(answer["error"]))
        return _response_or_raise(answer.get("result"))

    def _retire(self, worker: _Worker, *, replace: bool) -> None:
        worker.kill()
        worker.close_channel()
        self._all.discard(worker)
        asyncio.get_running_loop().run_in_executor(None, worker.process.wait)  # reap it, off the loop
        if replace and not self._closing:
            self._start_in_background()

    def _start_in_background(self, count: int = 1) -> None:
        task = asyncio.get_running_loop().create_task(self._spawn_idle(count))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _spawn_idle(self, count: int) -> None:
        for _ in range(count):
            try:
                self._idle.put_nowait(await self._ready(self._launch()))
            except (HandlerFailedError, OSError) as exc:
                print(f"could not start a worker of {self._handler_path}: {exc}", file=sys.stderr, flush=True)

    async def close(self) -> None:
        self._closing = True
        for task in list(self._starting):
            task.cancel()
        await asyncio.gather(*(w.stop(grace_seconds=5) for w in list(self._all)), return_exceptions=True)
        self._all.clear()


def _response_or_raise(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise HandlerFailedError(f"the handler returned {type(result).__name__}, not a response")
    return result
