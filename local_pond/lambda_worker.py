"""Inside a local Lambda execution environment: a worker process serving events to one handler.

``python -m local_pond.lambda_worker HANDLER FUNCTION_NAME FD PARENT_PID`` imports ``HANDLER``
(``package.module:function``), says it is ready, then reads length-prefixed JSON events from the
socket ``FD`` and answers each with the handler's result, until the parent closes the socket or dies.
It imports nothing but the standard library before the handler, so it is ready as soon as the handler is.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import signal
import socket
import struct
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
FRAME = struct.Struct(">I")  # each message: its length, then that much JSON
READY = {"ready": True}
_PR_SET_PDEATHSIG = 1


class HandlerFailedError(Exception):
    """The handler raised, returned something that is not a response, or its environment died."""


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline_ms: float = field(default_factory=lambda: time.time() * 1000 + 29_000)
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


def load_handler(dotted: str) -> LambdaHandler:
    """``package.module:function`` to the function."""
    module_name, _, attr = dotted.partition(":")
    handler: LambdaHandler = getattr(importlib.import_module(module_name), attr)
    return handler


def _read_frame(channel: socket.socket) -> Any:
    """The next message, or None when the parent closed the socket (or died)."""
    header = _read_exactly(channel, FRAME.size)
    if header is None:
        return None
    body = _read_exactly(channel, FRAME.unpack(header)[0])
    return None if body is None else json.loads(body)


def _read_exactly(channel: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = channel.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _write_frame(channel: socket.socket, data: str) -> None:
    payload = data.encode()
    channel.sendall(FRAME.pack(len(payload)) + payload)


def worker_main(handler_path: str, function_name: str, fd: int, parent_pid: int) -> None:
    """Serve events from the parent until it closes the socket (or dies)."""
    _die_with(parent_pid)
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with socket.socket(fileno=fd) as channel, contextlib.suppress(BrokenPipeError, ConnectionResetError):
        handler = load_handler(handler_path)
        _write_frame(channel, json.dumps(READY))
        while (event := _read_frame(channel)) is not None:
            try:
                result = handler(event, LocalLambdaContext(function_name))
                data = json.dumps({"result": result})  # Lambda serializes results too: one that cannot be fails
            except Exception as exc:
                traceback.print_exc()
                data = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            _write_frame(channel, data)  # a parent that went away ends the worker here (suppressed above)


def _die_with(parent_pid: int) -> None:
    """Be killed the moment the parent dies: a crashed server's workers must not import or serve on."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # it died before prctl took effect
        os._exit(1)


if __name__ == "__main__":
    worker_main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
