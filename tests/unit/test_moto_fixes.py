"""The embedded AWS's DynamoDB keeps writes a failed transaction did not make, and stays atomic."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws
from moto.core.model_instances import model_data
from moto.dynamodb.models import DynamoDBBackend

from local_pond import moto_fixes

TABLE = "fixes"
REGION = "us-east-1"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        yield client


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "x"}}


def _get(client: Any, pk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(TableName=TABLE, Key=_key(pk), ConsistentRead=True).get("Item")
    return item


def _failing_transaction(client: Any) -> None:
    """Put a new item, update and delete existing ones, then fail a condition: nothing may stay applied."""
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**_key("new"), "v": {"S": "1"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _key("kept"),
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "changed"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": _key("gone")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("fence"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )


def test_a_failed_transaction_undoes_its_own_actions(dynamodb: Any) -> None:
    for pk in ("kept", "gone", "fence"):
        dynamodb.put_item(TableName=TABLE, Item={**_key(pk), "v": {"S": "before"}})
    _failing_transaction(dynamodb)
    assert _get(dynamodb, "new") is None
    assert _get(dynamodb, "kept") == {**_key("kept"), "v": {"S": "before"}}
    assert _get(dynamodb, "gone") == {**_key("gone"), "v": {"S": "before"}}


def test_a_failed_transaction_keeps_a_write_made_while_it_ran(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another request's write lands between the transaction's first action and its failure (as a
    thread of the server could): stock moto put back a copy of the whole table and lost it."""
    for pk in ("kept", "gone", "fence"):
        dynamodb.put_item(TableName=TABLE, Item={**_key(pk), "v": {"S": "before"}})
    original_put = DynamoDBBackend.put_item
    raced: list[bool] = []

    def put_item(backend: DynamoDBBackend, table_name: str, item_attrs: dict[str, Any], **kwargs: Any) -> Any:
        result = original_put(backend, table_name, item_attrs, **kwargs)
        if not raced:
            raced.append(True)
            original_put(backend, table_name, {**_key("heartbeat"), "v": {"S": "written meanwhile"}})
        return result

    monkeypatch.setattr(DynamoDBBackend, "put_item", put_item)
    _failing_transaction(dynamodb)
    assert raced
    assert _get(dynamodb, "heartbeat") == {**_key("heartbeat"), "v": {"S": "written meanwhile"}}
    assert _get(dynamodb, "new") is None


def test_moto_keeps_no_record_of_every_item_written(dynamodb: Any) -> None:
    for n in range(50):
        dynamodb.put_item(TableName=TABLE, Item={**_key(f"i{n}"), "v": {"S": "x"}})
    assert all(len(model.instances_tracked) == 0 for model in model_data["dynamodb"].values())  # type: ignore[attr-defined]


def test_concurrent_transactions_over_a_threaded_server_lose_no_update() -> None:
    """8 threads increment one counter in transactions, half of which fail on a condition: with requests
    applied one at a time and item-level rollback, every successful increment is counted."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    moto_fixes.apply()
    server = make_server(
        "127.0.0.1", 0, moto_fixes.SerialDynamoDB(DomainDispatcherApplication(create_backend_app)), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        client = _client(url)
        client.create_table(
            TableName="race",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        client.put_item(TableName="race", Item={"pk": {"S": "counter"}, "n": {"N": "0"}})
        client.put_item(TableName="race", Item={"pk": {"S": "gate"}})
        succeeded = [0] * 8

        def work(index: int) -> None:
            own = _client(url)
            for round_ in range(25):
                fail = round_ % 2 == 0
                try:
                    own.transact_write_items(
                        TransactItems=[
                            {
                                "Update": {
                                    "TableName": "race",
                                    "Key": {"pk": {"S": "counter"}},
                                    "UpdateExpression": "ADD n :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                                }
                            },
                            {
                                "ConditionCheck": {
                                    "TableName": "race",
                                    "Key": {"pk": {"S": "gate"}},
                                    "ConditionExpression": "attribute_exists(pk)"
                                    if not fail
                                    else "attribute_not_exists(pk)",
                                }
                            },
                        ]
                    )
                    succeeded[index] += 1
                except own.exceptions.TransactionCanceledException:
                    pass

        workers = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        counter = client.get_item(TableName="race", Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
        assert sum(succeeded) == 8 * 12
        assert int(counter["n"]["N"]) == sum(succeeded)
    finally:
        server.shutdown()
        thread.join()


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
