"""A transaction that conflicted with another is retried with jittered backoff, then reported."""

from __future__ import annotations

import random
from typing import Any

import pytest
from botocore.exceptions import ClientError

from koipond.errors import TransactionConflictError
from koipond.store.table import CONFLICT_RETRIES, ConditionFailed, DynamoTable


def _cancelled(code: str) -> ClientError:
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": f"Transaction cancelled [{code}]"},
        "CancellationReasons": [{"Code": code}],
    }
    return ClientError(response, "TransactWriteItems")


class ScriptedDynamoDB:
    """Answers TransactWriteItems with the scripted errors in order, then succeeds."""

    def __init__(self, *errors: ClientError) -> None:
        self.errors = list(errors)
        self.calls = 0

    def transact_write_items(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {}


def _table(client: ScriptedDynamoDB, slept: list[float]) -> DynamoTable:
    return DynamoTable(client, "koipond", sleep=slept.append, rng=random.Random(7))  # type: ignore[arg-type]


def test_a_conflicted_transaction_is_retried_after_a_jittered_pause_and_lands() -> None:
    client, slept = ScriptedDynamoDB(_cancelled("TransactionConflict"), _cancelled("TransactionConflict")), []
    _table(client, slept).transact([{"Put": {}}])  # type: ignore[list-item]
    assert client.calls == 3
    assert len(slept) == 2
    assert 0 <= slept[0] <= 0.025
    assert 0 <= slept[1] <= 0.05


def test_a_transaction_that_keeps_conflicting_is_reported_as_a_conflict() -> None:
    client = ScriptedDynamoDB(*[_cancelled("TransactionConflict")] * (CONFLICT_RETRIES + 1))
    slept: list[float] = []
    with pytest.raises(TransactionConflictError):
        _table(client, slept).transact([{"Put": {}}])  # type: ignore[list-item]
    assert client.calls == CONFLICT_RETRIES + 1
    assert all(0 <= pause <= 0.4 for pause in slept)


def test_a_failed_condition_is_never_retried() -> None:
    client, slept = ScriptedDynamoDB(_cancelled("ConditionalCheckFailed")), []
    with pytest.raises(ConditionFailed):
        _table(client, slept).transact([{"Put": {}}])  # type: ignore[list-item]
    assert (client.calls, slept) == (1, [])
