"""The Keeper bench's DynamoDB accounting bills calls as DynamoDB would, and its smallest cells run."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from koipond.store.schema import create_table

TABLE = "bench-accounting"


def _load_bench_module(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


sim = _load_bench_module("keeper_sim")


@pytest.fixture
def metered() -> Iterator[Any]:
    with mock_aws(), sim.lean_moto():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        yield sim.MeteredDynamoDB(client)


def _item(pk: str, size: int, **extra: str) -> dict[str, Any]:
    """An item of exactly ``size`` bytes: ``pk``, ``sk`` = META, and ``doc`` padding the rest."""
    base: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": "META"}, **{k: {"S": v} for k, v in extra.items()}}
    padding = size - sim.item_size(base) - len("doc")
    assert padding >= 0
    return {**base, "doc": {"S": "x" * padding}}


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "META"}}


def test_item_size_counts_names_and_values_as_dynamodb_does() -> None:
    assert sim.item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert sim.item_size({"n": {"N": "123"}}) == 1 + 3  # two bytes for three digits, plus one
    assert sim.item_size({"n": {"N": "1000"}}) == 1 + 2  # trailing zeros are trimmed
    assert sim.item_size({"n": {"N": "-0.05"}}) == 1 + 2
    assert sim.item_size({"m": {"M": {"a": {"S": "xy"}}}}) == 1 + 3 + (1 + 1 + 2)
    assert sim.item_size({"l": {"L": [{"N": "1"}, {"BOOL": True}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert sim.item_size({"e": {"M": {}}, "s": {"SS": ["ab", "c"]}, "b": {"B": b"\x00\x01"}}) == 4 + 4 + 3


def test_a_get_of_a_known_item_costs_what_dynamodb_bills(metered: Any) -> None:
    metered.put_item(TableName=TABLE, Item=_item("A", 4096 + 1))
    with metered.metering() as strong:
        metered.get_item(TableName=TABLE, Key=_key("A"), ConsistentRead=True)
    with metered.metering() as eventual:
        metered.get_item(TableName=TABLE, Key=_key("A"))
    with metered.metering() as missing:
        metered.get_item(TableName=TABLE, Key=_key("nothing"), ConsistentRead=True)
    assert (strong.rcu, eventual.rcu, missing.rcu) == (2.0, 1.0, 1.0)
    assert strong.calls["GetItem"] == 1


def test_a_query_rounds_the_total_of_its_items_up_once(metered: Any) -> None:
    for sk in ("a", "b", "c"):
        metered.put_item(TableName=TABLE, Item={**_item("P", 1500), "sk": {"S": sk}})
    query = {"TableName": TABLE, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P"}}}
    with metered.metering() as strong:
        metered.query(**query, ConsistentRead=True)
    with metered.metering() as eventual:
        metered.query(**query)
    assert (strong.rcu, eventual.rcu) == (2.0, 1.0)  # 4,500 bytes: two 4 KB units, not three


def test_a_batch_get_bills_each_item_apart(metered: Any) -> None:
    metered.put_item(TableName=TABLE, Item=_item("A", 5000))
    metered.put_item(TableName=TABLE, Item=_item("B", 100))
    with metered.metering() as ledger:
        metered.batch_get_item(
            RequestItems={TABLE: {"Keys": [_key("A"), _key("B"), _key("C")], "ConsistentRead": True}}
        )
    assert ledger.rcu == 2 + 1 + 1


def test_writes_bill_the_larger_side_per_started_kb(metered: Any) -> None:
    with metered.metering() as put:
        metered.put_item(TableName=TABLE, Item=_item("A", 1500))
    with metered.metering() as shrink:
        metered.update_item(
            TableName=TABLE,
            Key=_key("A"),
            UpdateExpression="SET doc = :d",
            ExpressionAttributeValues={":d": {"S": "small"}},
        )
    with metered.metering() as delete:
        metered.delete_item(TableName=TABLE, Key=_key("A"))
    assert (put.wcu, shrink.wcu, delete.wcu) == (2, 2, 1)
    assert put.largest_written == 1500


def test_a_transaction_bills_twice_per_action_including_its_checks(metered: Any) -> None:
    metered.put_item(TableName=TABLE, Item=_item("CHECKED", 2000))
    actions = [
        {"Put": {"TableName": TABLE, "Item": _item("NEW", 100)}},
        {"ConditionCheck": {"TableName": TABLE, "Key": _key("CHECKED"), "ConditionExpression": "attribute_exists(pk)"}},
    ]
    with metered.metering() as ledger:
        metered.transact_write_items(TransactItems=actions)
    assert ledger.wcu == 2 * 1 + 2 * 2
    assert ledger.calls["TransactWriteItems"] == 1


def test_index_writes_are_counted_apart_from_the_table(metered: Any) -> None:
    with metered.metering() as indexed:
        metered.put_item(TableName=TABLE, Item=_item("I", 1100, gsi1pk="SCHOOLS", gsi1sk="s1"))
    with metered.metering() as plain:
        metered.put_item(TableName=TABLE, Item=_item("J", 100))
    assert (indexed.wcu, indexed.index_wcu) == (2, 2)
    assert (plain.wcu, plain.index_wcu) == (1, 0)


def test_a_failed_transaction_writes_nothing_under_the_lean_embedded_aws(metered: Any) -> None:
    metered.put_item(TableName=TABLE, Item=_item("KEPT", 200))
    actions = [
        {"Put": {"TableName": TABLE, "Item": _item("KEPT", 300)}},
        {"Put": {"TableName": TABLE, "Item": _item("FRESH", 100)}},
        {"ConditionCheck": {"TableName": TABLE, "Key": _key("GONE"), "ConditionExpression": "attribute_exists(pk)"}},
    ]
    with pytest.raises(ClientError, match="TransactionCanceled"):
        metered.transact_write_items(TransactItems=actions)
    kept = metered.get_item(TableName=TABLE, Key=_key("KEPT"), ConsistentRead=True)["Item"]
    assert sim.item_size(kept) == 200
    assert "Item" not in metered.get_item(TableName=TABLE, Key=_key("FRESH"), ConsistentRead=True)


@pytest.mark.parametrize("tests", [1, 100])
def test_the_smallest_cells_bill_every_poll_and_hold_every_koi(tests: int) -> None:
    result = sim.run_cell(sim.Cell(10, tests))
    if result.skipped:  # a Keeper with a running-test cap below 100 cannot run this cell
        assert result.skipped == "n/a (cap)"
        return
    assert len(result.polls) == 10
    assert all(p.rcu > 0 and p.wcu > 0 for p in result.polls)
    assert result.run.largest_written > 0
    assert result.assigned == result.demanded == sim.TOTAL_KOI
