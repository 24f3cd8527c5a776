"""Thin typed access to the one DynamoDB table: serialization, paging and error translation."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from koipond.backoff import full_jitter_seconds
from koipond.errors import BadRequestError, StoreError, TransactionConflictError
from koipond.store.schema import GSI1, GSI1_PK, PK, SK

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Item = dict[str, Any]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
# DynamoDB accepts at most 100 actions per transaction.
MAX_TRANSACTION_ITEMS = 100
# A conflicting transaction is retried this many times, after 0-25 ms, 0-50 ms, 0-100 ms, 0-200 ms.
CONFLICT_RETRIES = 4
CONFLICT_BACKOFF_SECONDS = 0.025
CONFLICT_BACKOFF_CAP_SECONDS = 0.4


class ItemTooLargeError(BadRequestError, StoreError):
    """DynamoDB refused an item over its 400 KB limit: the input was too big, not the store unavailable.

    Still a StoreError, so code that carries on when a write fails (a poll's heartbeat) carries on;
    the Keeper answers it as a bad request (400) rather than an outage (503).
    """

    code = "item_too_large"


def _raise_if_item_too_large(exc: Exception) -> None:
    if not isinstance(exc, ClientError):
        return
    # A ValidationException for one write; a cancellation reason inside a transaction. DynamoDB says
    # "Item size has exceeded ..." or "Item size to update has exceeded the maximum allowed size".
    messages = [exc.response.get("Error", {}).get("Message", "")]
    messages += [reason.get("Message", "") for reason in exc.response.get("CancellationReasons", [])]
    if any("exceeded the maximum allowed size" in (message or "") for message in messages):
        raise ItemTooLargeError(
            "too large to store: DynamoDB refuses items over 400 KB; send less", {"limit": "400 KB"}
        ) from exc


# DynamoDB's error codes (beside any 5xx) that mean "unavailable now, retry later": botocore has retried
# them already, so the caller is told to come back (the Keeper answers 503 with Retry-After).
_UNAVAILABLE_CODES = frozenset(
    {
        "ServiceUnavailable",
        "InternalServerError",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
    }
)


def store_error(what: str, exc: ClientError | BotoCoreError) -> StoreError:
    """The StoreError for a failed DynamoDB call: says plainly when the table is unavailable, and why.

    An unreachable, timed-out or 5xx-answering DynamoDB is an outage the caller should retry; any
    other refusal (a malformed expression, a missing table) is named as DynamoDB gave it.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = error.get("Code", "?")
        if status < 500 and code not in _UNAVAILABLE_CODES:
            return StoreError(f"DynamoDB refused {what}: {code}: {error.get('Message', '')}")
        cause = f"{code}: {error.get('Message', '')}"
    else:
        cause = str(exc)  # "Could not connect to the endpoint URL …", "Read timeout on endpoint URL …"
    return StoreError(
        f"the Keeper's table (DynamoDB) is unavailable; retry later ({what} failed: {cause})",
        {"dependency": "dynamodb"},
    )


class ConditionFailed(Exception):
    """A named condition of a write did not hold; ``failed`` lists the failing actions' indexes."""

    def __init__(self, failed: Sequence[int]) -> None:
        super().__init__(f"condition failed for actions {list(failed)}")
        self.failed = tuple(failed)


def _to_python(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _to_python(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_to_python(v) for v in value]
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def deserialize(raw: Mapping[str, Any]) -> Item:
    return {k: _to_python(_deserializer.deserialize(v)) for k, v in raw.items()}


class DynamoTable:
    """The table, addressed by plain Python dicts; SDK errors become :class:`StoreError`."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.name = table_name
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - retry jitter, not security

    def get(self, pk: str, sk: str) -> Item | None:
        """Strongly consistent read of one item."""
        try:
            raw = self.client.get_item(TableName=self.name, Key=serialize({PK: pk, SK: sk}), ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise store_error(f"reading {pk}", exc) from exc
        found = raw.get("Item")
        return deserialize(found) if found else None

    def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Item]:
        """Strongly consistent reads of many items (missing ones are left out)."""
        found: list[Item] = []
        # BatchGetItem takes at most 100 keys per call.
        for offset in range(0, len(keys), 100):
            request: Any = {
                self.name: {
                    "Keys": [serialize({PK: pk, SK: sk}) for pk, sk in keys[offset : offset + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                try:
                    answer = self.client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise store_error("a batch read", exc) from exc
                found.extend(deserialize(raw) for raw in answer["Responses"].get(self.name, []))
                request = answer.get("UnprocessedKeys") or None
        return found

    def query(self, pk: str, *, index: bool = False, ascending: bool = True, limit: int | None = None) -> list[Item]:
        """All items of one partition (of the table, or of the index when ``index``), in key order."""
        return list(self._query_pages(pk, index=index, ascending=ascending, limit=limit))

    def _query_args(self, pk: str, *, index: bool, ascending: bool) -> dict[str, Any]:
        """A Query of one partition: of the index (eventually consistent) or of the table (strongly)."""
        args: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": GSI1_PK if index else PK},
            "ExpressionAttributeValues": serialize({":pk": pk}),
            "ScanIndexForward": ascending,
        }
        if index:
            args["IndexName"] = GSI1
        else:
            args["ConsistentRead"] = True
        return args

    def _query_pages(self, pk: str, *, index: bool, ascending: bool, limit: int | None) -> Iterator[Item]:
        args = self._query_args(pk, index=index, ascending=ascending)
        yielded = 0
        while True:
            try:
                page = self.client.query(**args)
            except (ClientError, BotoCoreError) as exc:
                raise store_error(f"the query of {pk}", exc) from exc
            for raw in page.get("Items", []):
                yield deserialize(raw)
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def query_newest(self, partitions: Iterable[str]) -> list[Item]:
        """The items of several index partitions, each newest first (eventually consistent)."""
        return [item for pk in partitions for item in self.query(pk, index=True, ascending=False)]

    def query_page(
        self, pk: str, *, limit: int, start_after_sk: str | None = None, ascending: bool = True
    ) -> tuple[list[Item], str | None]:
        """One page of a table partition: at most ``limit`` items after ``start_after_sk``, in key order.

        Returns:
            The items, and the sort key to start the next page after (None when the partition is done).
            DynamoDB may stop a page short (1 MB per call), so a short page does not mean the end.
        """
        args = {**self._query_args(pk, index=False, ascending=ascending), "Limit": limit}
        if start_after_sk is not None:
            # The partition key is always the caller's own: a start key can only move within it.
            args["ExclusiveStartKey"] = serialize({PK: pk, SK: start_after_sk})
        try:
            page = self.client.query(**args)
        except (ClientError, BotoCoreError) as exc:
            raise store_error(f"the query of {pk}", exc) from exc
        last = page.get("LastEvaluatedKey")
        return [deserialize(raw) for raw in page.get("Items", [])], deserialize(last)[SK] if last else None

    def transact(self, actions: Sequence[TransactWriteItemTypeDef]) -> None:
        """Apply all actions or none; a transaction that conflicted with another is retried.

        botocore does not retry ``TransactionConflict`` (two transactions touching one item at the same
        moment). Nothing was written when it happens, so retrying is safe; backoff with full jitter
        keeps the racing writers from colliding again.

        Raises:
            ConditionFailed: a condition did not hold; nothing was written.
            TransactionConflictError: still conflicting after the retries; nothing was written.
            StoreError: DynamoDB refused or failed for another reason.
        """
        if len(actions) > MAX_TRANSACTION_ITEMS:
            raise StoreError(f"a transaction of {len(actions)} actions exceeds DynamoDB's {MAX_TRANSACTION_ITEMS}")
        for attempt in range(CONFLICT_RETRIES):
            try:
                self._transact_once(actions)
                return
            except TransactionConflictError:
                self._sleep(
                    full_jitter_seconds(attempt, CONFLICT_BACKOFF_SECONDS, CONFLICT_BACKOFF_CAP_SECONDS, self._rng)
                )
        self._transact_once(actions)

    def _transact_once(self, actions: Sequence[TransactWriteItemTypeDef]) -> None:
        try:
            self.client.transact_write_items(TransactItems=list(actions))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
                if failed or "ConditionalCheckFailed" in error.get("Message", ""):
                    raise ConditionFailed(failed) from exc
                if any(r.get("Code") == "TransactionConflict" for r in reasons) or "TransactionConflict" in error.get(
                    "Message", ""
                ):
                    raise TransactionConflictError(f"write conflicted: {error.get('Message', exc)}") from exc
            _raise_if_item_too_large(exc)
            raise store_error("a transaction", exc) from exc
        except BotoCoreError as exc:
            raise store_error("a transaction", exc) from exc

    def put_action(
        self, item: Mapping[str, Any], condition: str | None = None, values: Mapping[str, Any] | None = None
    ) -> TransactWriteItemTypeDef:
        """A Put for :meth:`transact`; ``condition`` may use ``#pk`` and ``#version``."""
        put: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        return {"Put": _conditioned(put, condition, values)}  # type: ignore[typeddict-item]

    def delete_action(
        self, pk: str, sk: str, condition: str | None = None, values: Mapping[str, Any] | None = None
    ) -> TransactWriteItemTypeDef:
        """A Delete for :meth:`transact` (deleting a missing item is not an error unless ``condition`` says so)."""
        delete: dict[str, Any] = {"TableName": self.name, "Key": serialize({PK: pk, SK: sk})}
        return {"Delete": _conditioned(delete, condition, values)}  # type: ignore[typeddict-item]

    def put(self, item: Mapping[str, Any]) -> None:
        """One unconditional PutItem (last writer wins).

        Raises:
            StoreError: DynamoDB refused or failed.
        """
        try:
            self.client.put_item(TableName=self.name, Item=serialize(item))
        except (ClientError, BotoCoreError) as exc:
            _raise_if_item_too_large(exc)
            raise store_error(f"writing {item.get(PK)}", exc) from exc

    def update(
        self,
        pk: str,
        sk: str,
        update: str,
        values: Mapping[str, Any],
        names: Mapping[str, str],
        returning: Literal["ALL_NEW", "ALL_OLD"] = "ALL_NEW",
    ) -> Item:
        """One UpdateItem, unconditional: half the write units of the same update in a transaction.

        Returns:
            The item as written, or with ``ALL_OLD`` as it was before (empty when it did not exist);
            returned values cost no read units.

        Raises:
            StoreError: DynamoDB refused or failed.
        """
        extra: dict[str, Any] = {"ExpressionAttributeValues": serialize(values)} if values else {}  # none for REMOVE
        try:
            answer = self.client.update_item(
                TableName=self.name,
                Key=serialize({PK: pk, SK: sk}),
                UpdateExpression=update,
                ExpressionAttributeNames=dict(names),
                ReturnValues=returning,
                **extra,
            )
        except (ClientError, BotoCoreError) as exc:
            _raise_if_item_too_large(exc)
            raise store_error(f"updating {pk}", exc) from exc
        return deserialize(answer.get("Attributes", {}))

    def update_if(
        self, pk: str, sk: str, update: str, condition: str, values: Mapping[str, Any], names: Mapping[str, str]
    ) -> Item:
        """One conditional UpdateItem; returns the item as written.

        Raises:
            ConditionFailed: ``condition`` did not hold; nothing was written.
            StoreError: DynamoDB refused or failed.
        """
        try:
            answer = self.client.update_item(
                TableName=self.name,
                Key=serialize({PK: pk, SK: sk}),
                UpdateExpression=update,
                ConditionExpression=condition,
                # DynamoDB refuses names an expression does not use.
                ExpressionAttributeNames={n: a for n, a in names.items() if n in f"{update} {condition}"},
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailed([0]) from exc
            _raise_if_item_too_large(exc)
            raise store_error(f"updating {pk}", exc) from exc
        except BotoCoreError as exc:
            raise store_error(f"updating {pk}", exc) from exc
        return deserialize(answer.get("Attributes", {}))

    def update_action(
        self,
        pk: str,
        sk: str,
        update: str,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> TransactWriteItemTypeDef:
        """An Update for :meth:`transact` (``ADD`` keeps counters exact under concurrent writers).

        ``update`` and ``condition`` may use ``#pk``, ``#version``, ``#status`` and the ``names`` given.
        """
        action: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize({PK: pk, SK: sk}),
            "UpdateExpression": update,
        }
        expression = update + " " + (condition or "")
        # DynamoDB refuses names an expression does not use, so pass only the used ones.
        used = {name: attr for name, attr in (names or {}).items() if name in expression}
        attribute_names = {**_names_in(expression), **used}
        if attribute_names:
            action["ExpressionAttributeNames"] = attribute_names
        if condition:
            action["ConditionExpression"] = condition
        if values:
            action["ExpressionAttributeValues"] = serialize(values)
        return {"Update": action}  # type: ignore[typeddict-item]

    def check_action(
        self, pk: str, sk: str, condition: str, values: Mapping[str, Any], names: Mapping[str, str] | None = None
    ) -> TransactWriteItemTypeDef:
        """A ConditionCheck for :meth:`transact`: the write proceeds only if this item is as read."""
        used = {name: attr for name, attr in (names or {}).items() if name in condition}
        check: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize({PK: pk, SK: sk}),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {**_names_in(condition), **used},
            "ExpressionAttributeValues": serialize(values),
        }
        return {"ConditionCheck": check}  # type: ignore[typeddict-item]


_ACTIONS = frozenset({"Put", "Update", "Delete", "ConditionCheck"})


def staged_actions(writes: Sequence[object]) -> list[TransactWriteItemTypeDef]:
    """Staged writes handed back by a service, as the transaction actions this table's repositories made.

    Raises:
        TypeError: a write is not a DynamoDB transaction action (one staged by another store: a wiring bug).
    """
    for write in writes:
        if not (isinstance(write, dict) and len(write) == 1 and next(iter(write)) in _ACTIONS):
            raise TypeError(f"not a DynamoDB transaction action: {write!r}")
    return cast("list[TransactWriteItemTypeDef]", list(writes))


_PLACEHOLDERS = {"#pk": PK, "#sk": SK, "#version": "version", "#status": "status"}


def _conditioned(action: dict[str, Any], condition: str | None, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """``action`` with ``condition`` (placeholders ``#pk``, ``#version``…) and its values, when there is one."""
    if condition:
        action["ConditionExpression"] = condition
        action["ExpressionAttributeNames"] = _names_in(condition)
        if values:
            action["ExpressionAttributeValues"] = serialize(values)
    return action


def _names_in(condition: str) -> dict[str, str]:
    return {name: attr for name, attr in _PLACEHOLDERS.items() if name in condition}


# Conditions shared by the repositories; each caller says which race it prevents.
NEW_ITEM = "attribute_not_exists(#pk)"
SAME_VERSION = "#version = :expected"
SAME_VERSION_OR_NEW = "attribute_not_exists(#pk) OR #version = :expected"
