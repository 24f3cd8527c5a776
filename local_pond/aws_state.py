"""The embedded AWS's state on disk: a journal of mutating requests plus periodic snapshots of moto's backends.

Files, in ``<state-dir>/aws/`` (mode 0700: they hold key hashes and secrets):

- ``snapshot.pickle``: every backend of ``aws_backends.STATE_SERVICES``, pickled, with the sequence number
  of the last journal entry it includes. Written to a temporary file, fsynced, then renamed over the old one.
- ``journal``: one JSON line per successful request of a *deterministic* mutating kind (DynamoDB writes,
  S3 object and bucket writes, SQS sends and queue changes, Secrets Manager writes), appended before the
  answer goes back. Replaying them in order on the snapshot rebuilds the same state.

Guarantee: after a clean stop (SIGTERM/SIGINT) nothing is lost (a last snapshot is taken). After a kill -9
no acknowledged request of a journaled kind is lost. Non-deterministic changes are only in snapshots, taken
every few seconds when something changed: SQS receives, deletes and visibility changes (a message deleted in
the last seconds may be delivered again: SQS is at-least-once anyway and the token worker is idempotent) and
S3 multipart parts. The rare ones that must never be redone differently (KMS key changes, completing a
multipart upload) take a snapshot before their answer goes back.

The pickles are trusted as the user's own files are: only this process writes them, in a directory only the
user can read.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_pond.aws_backends import SNAPSHOT_FORMAT, install_backends, pickle_backends
from local_pond.aws_guard import WsgiApp
from local_pond.aws_requests import RequestKind, classify, service_and_action

log = logging.getLogger(__name__)


SNAPSHOT_FILE = "snapshot.pickle"
JOURNAL_FILE = "journal"
LOCK_FILE = "lock"
# A snapshot is taken this often at most when something changed, and never more often than
# SNAPSHOT_SHARE of one core would allow: a large pond pickles for longer, so it snapshots less often.
SNAPSHOT_SECONDS = 2.0
SNAPSHOT_SHARE = 0.05
# moto's werkzeug handler keeps S3 metadata header names (underscores) in this environ key, a dict.
_PRESERVED_HEADER_NAMES = "moto.preserved_header_names"


@dataclass(frozen=True)
class SnapshotStats:
    size_bytes: int
    seconds: float


@dataclass(frozen=True)
class RestoreReport:
    snapshot_bytes: int  # 0: no snapshot
    replayed: int  # journal entries applied on top of it
    failed: int  # replayed entries moto refused (logged)
    torn: int  # unreadable journal lines skipped (a write cut short by a crash)
    seconds: float


class PersistentAwsApp:
    """WSGI middleware around moto's app that journals deterministic changes and snapshots the backends.

    It sits inside :class:`~local_pond.aws_guard.EmbeddedAwsGuard`: only requests the guard let through
    are journaled, and the replay goes straight to moto, because a journaled request is signed with the key
    pair of the run that made it (which may differ) and its signature date is long past.
    """

    def __init__(self, app: WsgiApp, state_dir: Path, snapshot_seconds: float = SNAPSHOT_SECONDS) -> None:
        self._app = app
        self._snapshot_seconds = snapshot_seconds
        self._dir = state_dir
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._dir.chmod(0o700)
        self._owner = _lock_state_dir(self._dir)
        self.snapshot_path = self._dir / SNAPSHOT_FILE
        self.journal_path = self._dir / JOURNAL_FILE
        # Serializes changes (journaled ones are applied and journaled in the same order) and snapshots.
        self._lock = threading.Lock()
        self._seq = 0  # of the last journaled request
        self._journal: io.BufferedWriter | None = None
        self._changed = threading.Event()
        self.last_snapshot: SnapshotStats | None = None

    def restore(self) -> RestoreReport:
        """Load the snapshot into moto's backends and replay the journal after it; call before serving."""
        started = time.perf_counter()
        snapshot_bytes, snapshot_seq = self._load_snapshot()
        self._seq = snapshot_seq
        replayed = failed = torn = 0
        for line in _journal_lines(self.journal_path):
            entry = _parse_entry(line)
            if entry is None:
                torn += 1
                continue
            seq, environ, body = entry
            if seq <= snapshot_seq:
                continue  # in the snapshot already (a crash came between its rename and the truncation)
            status = _replay(self._app, environ, body)
            replayed += 1
            if status >= 300:
                failed += 1
                log.warning("replaying journal entry %d: moto answered %d", seq, status)
            self._seq = max(self._seq, seq)
        self._journal = _open_journal(self.journal_path)
        if replayed or torn:
            self._changed.set()
        return RestoreReport(snapshot_bytes, replayed, failed, torn, time.perf_counter() - started)

    def _load_snapshot(self) -> tuple[int, int]:
        try:
            data = self.snapshot_path.read_bytes()
        except FileNotFoundError:
            return 0, 0
        payload = pickle.loads(data)  # noqa: S301 - our own file, in a directory only the user can read
        if payload.get("format") != SNAPSHOT_FORMAT:
            raise RuntimeError(f"{self.snapshot_path} has format {payload.get('format')}, expected {SNAPSHOT_FORMAT}")
        install_backends(payload["backends"])
        return len(data), int(payload["seq"])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _read_body(environ)
        service, action = service_and_action(environ, body)
        kind = classify(environ, service, action)
        if kind is RequestKind.READ:
            return self._app(environ, start_response)
        if action == "ReceiveMessage":
            # A long poll waits inside moto for up to 20 s, so receives never hold the lock. One racing a
            # snapshot may leave that snapshot a little off (the pickler retries when a set changes under
            # it); the receive marks the state changed, so the next snapshot, seconds later, is exact.
            status, headers, chunks = _call(self._app, environ)
            if b"ReceiptHandle" in b"".join(chunks):  # an empty receive (polled every second) changes nothing
                self._changed.set()
        else:
            # Every other change, journaled or not, is applied between snapshots, never during one.
            with self._lock:
                status, headers, chunks = _call(self._app, environ)
                if _succeeded(status):
                    self._changed.set()
                    if kind is RequestKind.JOURNALED:
                        self._append(environ, body)
                    elif kind is RequestKind.SNAPSHOT_NOW:
                        self._snapshot_locked()
        start_response(status, headers)
        return chunks

    def _append(self, environ: dict[str, Any], body: bytes) -> None:
        if self._journal is None:
            raise RuntimeError("restore() must run before the embedded AWS serves requests")
        self._seq += 1
        recorded = _recorded_environ(environ, len(body))
        entry = {"seq": self._seq, "environ": recorded, "body": base64.b64encode(body).decode("ascii")}
        # write + flush hands the line to the kernel before the client hears back: it survives a kill -9
        # of this process. No fsync per request: that would put a disk flush in every DynamoDB write, and
        # only a crash of the whole machine could lose what the kernel holds.
        self._journal.write(json.dumps(entry).encode() + b"\n")
        self._journal.flush()

    def snapshot(self) -> SnapshotStats:
        """Pickle the backends to the snapshot file atomically, then empty the journal."""
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> SnapshotStats:
        started = time.perf_counter()
        self._changed.clear()  # before pickling: a change racing it sets it again
        data = pickle_backends(self._seq)
        temporary = self.snapshot_path.with_suffix(".tmp")
        with open(temporary, "wb", opener=_private_opener) as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.snapshot_path)
        _fsync_dir(self._dir)
        if self._journal is not None:
            self._journal.truncate(0)  # every entry is in the snapshot now (its seq says so if we die here)
        self.last_snapshot = SnapshotStats(len(data), time.perf_counter() - started)
        return self.last_snapshot

    def snapshot_if_changed(self) -> SnapshotStats | None:
        return self.snapshot() if self._changed.is_set() else None

    def run_snapshots(self, stop: threading.Event) -> None:
        """Snapshot every few seconds while something changed, until ``stop`` is set (a thread's target)."""
        while not stop.wait(self.snapshot_period()):
            try:
                self.snapshot_if_changed()
            except (OSError, RuntimeError, pickle.PicklingError):
                # The journal still holds every deterministic change; try again next period.
                log.exception("snapshot of the embedded AWS failed")

    def snapshot_period(self) -> float:
        last = self.last_snapshot.seconds if self.last_snapshot else 0.0
        return max(self._snapshot_seconds, last / SNAPSHOT_SHARE)

    def close(self, *, snapshot: bool = True) -> None:
        """Take a last snapshot (a clean stop loses nothing) and close the journal.

        ``snapshot=False`` leaves the files as a kill -9 would (tests).
        """
        with self._lock:
            if snapshot:
                self._snapshot_locked()
            if self._journal is not None:
                self._journal.close()
                self._journal = None
        os.close(self._owner)  # releases the state dir for the next run


def _lock_state_dir(path: Path) -> int:
    """Hold ``path/lock`` for this process's life: two embedded AWSes writing one journal would corrupt it.

    Raises:
        RuntimeError: another running embedded AWS holds it (the kernel releases it when that one dies).
    """
    descriptor = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise RuntimeError(
            f"another embedded AWS keeps its state in {path}; stop it or use another --state-dir"
        ) from None
    return descriptor


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back for moto (chunked bodies arrive de-chunked, unterminated length)."""
    stream = environ["wsgi.input"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 0:
        body: bytes = stream.read(length)
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _call(app: WsgiApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    """Run the app to completion: a journaled request's answer waits for its journal line."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        answer["status"], answer["headers"] = status, headers
        return lambda _data: None

    iterable = app(environ, start_response)
    try:
        chunks = list(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return answer["status"], answer["headers"], chunks


def _succeeded(status: str) -> bool:
    return status[:1] == "2"


def _recorded_environ(environ: dict[str, Any], length: int) -> dict[str, Any]:
    """The CGI part of the environ (method, path, query, headers), which is all moto reads of a request."""
    recorded: dict[str, Any] = {
        key: value
        for key, value in environ.items()
        if isinstance(value, str) and not key.startswith(("wsgi.", "werkzeug.")) and key != "HTTP_TRANSFER_ENCODING"
    }
    recorded["CONTENT_LENGTH"] = str(length)  # the body was stored de-chunked
    if isinstance(environ.get(_PRESERVED_HEADER_NAMES), dict):
        recorded[_PRESERVED_HEADER_NAMES] = environ[_PRESERVED_HEADER_NAMES]
    return recorded


def _replay(app: WsgiApp, recorded: dict[str, Any], body: bytes) -> int:
    environ = {
        **recorded,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    status, _headers, _chunks = _call(app, environ)
    return int(status.split(" ", 1)[0])


def _journal_lines(path: Path) -> list[bytes]:
    try:
        return path.read_bytes().splitlines()
    except FileNotFoundError:
        return []


def _parse_entry(line: bytes) -> tuple[int, dict[str, Any], bytes] | None:
    """(seq, environ, body) of a journal line; None for a line a crash cut short."""
    try:
        entry = json.loads(line)
        return int(entry["seq"]), dict(entry["environ"]), base64.b64decode(entry["body"], validate=True)
    except (ValueError, KeyError, TypeError):
        return None


def _open_journal(path: Path) -> io.BufferedWriter:
    handle = open(path, "ab", opener=_private_opener)  # noqa: SIM115 - kept open for the process's life
    assert isinstance(handle, io.BufferedWriter)
    return handle


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (the directory entry is what changed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
