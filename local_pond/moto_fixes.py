"""Where the embedded AWS (moto 5) must behave like DynamoDB for the pond to keep its invariants.

moto's TransactWriteItems backs up every table it touches by deep-copying it, once per action, and on
any failure puts those copies back. In a threaded server that is wrong twice over:

* **Lost writes.** A write another request made between the copy and a failed transaction (a lease
  renewal whose fence no longer matches, an idempotent put that found its item) is undone with the
  rest of the table. Failed conditions are routine in the Keeper, so the pond lost heartbeats,
  assignments and tests now and then.
* **Cost.** Each transaction costs O(table) time and memory; moto's instance tracker (for its own
  dashboard) also keeps every model ever made, so a pond left running grows without bound.

The fix: a failed transaction restores only the items it touched (their state from before it ran),
DynamoDB requests are applied one at a time (so nothing runs between a transaction's first action and
its rollback, and no read sees a transaction half-applied: DynamoDB's isolation), and moto keeps no
record of its models. DynamoDB itself serialises conflicting writes per item; one lock for the table is
coarser, but moto holds the GIL for all of a request anyway.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from typing import Any

from local_pond.aws_guard import WsgiApp

_applied = False
_apply_lock = threading.Lock()


class _KeepTables:
    """``copy`` for moto's DynamoDB models, except that a whole table is never deep-copied."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def apply() -> None:
    """Patch moto in this process (idempotent): item-level transaction rollback, no instance tracking."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        from moto.core.common_models import BaseModel
        from moto.core.model_instances import model_data
        from moto.dynamodb import models as ddb

        original = ddb.DynamoDBBackend.transact_write_items

        def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
            backups = [_backup(backend, next(iter(action.values()))) for action in transact_items]
            try:
                original(backend, transact_items)
            except Exception:
                for backup in reversed(backups):
                    if backup is not None:
                        _restore(*backup)
                raise

        def untracked_new(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
            return super(BaseModel, cls).__new__(cls)

        # Models of services imported later (the server imports each on its first request) are covered too.
        BaseModel.__new__ = untracked_new  # type: ignore[method-assign]
        for models in model_data.values():
            for model in models.values():
                model.instances_tracked = []  # type: ignore[attr-defined]
        # The module's only deep copy of a table is the transaction's backup; item copies stay deep.
        ddb.copy = _KeepTables()  # type: ignore[assignment,attr-defined]
        ddb.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign,assignment]
        _applied = True


def _backup(backend: Any, op: dict[str, Any]) -> tuple[Any, Any, Any, Any] | None:
    """The table, key and a deep copy of the item one action touches; None when moto will refuse it anyway."""
    try:
        table = backend.get_table(op["TableName"])
        key = op.get("Key") or {
            name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr) if name is not None
        }
        hash_key, range_key = backend.get_keys_value(table, key)
    except Exception:  # a missing table or key: moto raises the proper error for it in a moment
        return None
    return table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if item is None:
        if table.get_item(hash_key, range_key) is not None:
            table.delete_item(hash_key, range_key)
    elif range_key is not None:
        table.items[hash_key][range_key] = item
    else:
        table.items[hash_key] = item


class SerialDynamoDB:
    """WSGI middleware: DynamoDB requests run one at a time; every other service's run as before."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            # DynamoDB answers are small JSON documents: read the whole body while the lock is held.
            return [b"".join(self._app(environ, start_response))]
