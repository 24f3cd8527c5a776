"""The fault proxy in front of a real moto server, and what the table makes of the faults it injects."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from moto.server import ThreadedMotoServer

from koipond.errors import StoreError
from koipond.store.schema import create_table
from koipond.store.table import DynamoTable
from local_pond.fault_proxy import FaultProxy
from local_pond.processes import free_port

TABLE = "koipond-faults"
# Few quick retries: each fault below fails its call within a second.
FAST = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 2})


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as running:
        yield running


def client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", config=FAST)  # type: ignore[call-overload]


@pytest.fixture
def table(moto_url: str) -> Iterator[None]:
    dynamodb = client("dynamodb", moto_url)
    create_table(dynamodb, TABLE)
    yield
    dynamodb.delete_table(TableName=TABLE)


def error_of(call: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as failed:
        call(**kwargs)
    response: Any = failed.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_a_503_fault_answers_service_unavailable_in_each_protocol_for_its_service_only(
    proxy: FaultProxy, table: None
) -> None:
    dynamodb, sqs, s3 = (client(name, proxy.url) for name in ("dynamodb", "sqs", "s3"))
    s3.create_bucket(Bucket="fault-bucket")
    proxy.set("503", "dynamodb")
    assert error_of(dynamodb.describe_table, TableName=TABLE) == (503, "ServiceUnavailable")  # awsJson 1.0
    sqs.list_queues()  # another service passes
    proxy.set("503", "s3")
    assert error_of(s3.list_objects_v2, Bucket="fault-bucket") == (503, "ServiceUnavailable")  # REST-XML
    proxy.set("503")
    assert error_of(sqs.list_queues) == (503, "ServiceUnavailable")  # awsJson with the query-error header
    proxy.set("pass")
    dynamodb.describe_table(TableName=TABLE)
    assert proxy.seen[("dynamodb", "503")] >= 1  # counted by service and mode, for a soak's table of faults


def test_refusing_every_service_stops_listening_until_healed_on_the_same_port(proxy: FaultProxy) -> None:
    host, port = "127.0.0.1", int(proxy.url.rsplit(":", 1)[1])
    proxy.set("refuse")
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, port), timeout=2):
        pass
    with pytest.raises(EndpointConnectionError):
        client("sqs", proxy.url).list_queues()
    proxy.set("pass")
    client("sqs", proxy.url).list_queues()


def test_refusing_one_service_drops_its_requests_without_an_answer(proxy: FaultProxy) -> None:
    proxy.set("refuse", "sqs")
    with pytest.raises(Exception, match="Connection was closed"):
        client("sqs", proxy.url).list_queues()
    client("s3", proxy.url).list_buckets()


def test_an_operation_fault_fails_that_operation_after_the_others_went_through(proxy: FaultProxy, table: None) -> None:
    store = DynamoTable(client("dynamodb", proxy.url), TABLE)
    proxy.set("503", "dynamodb", operation="TransactWriteItems")
    assert store.get("TEST#x", "META") is None
    with pytest.raises(StoreError, match=r"table \(DynamoDB\) is unavailable"):
        store.transact([store.put_action({"pk": "TEST#x", "sk": "META"})])
    proxy.set("pass")
    assert store.get("TEST#x", "META") is None  # nothing of the refused transaction was written


def test_slow_delays_its_service_and_then_answers(proxy: FaultProxy) -> None:
    proxy.set("slow", "sqs", delay_seconds=0.5)
    started = time.monotonic()
    client("sqs", proxy.url).list_queues()
    assert time.monotonic() - started >= 0.5
    assert proxy.fault_for("s3").mode == "pass"


@pytest.mark.parametrize(
    ("mode", "cause"), [("refuse", "Could not connect to the endpoint URL"), ("503", "ServiceUnavailable")]
)
def test_the_table_says_dynamodb_is_unavailable_and_why(proxy: FaultProxy, table: None, mode: Any, cause: str) -> None:
    store = DynamoTable(client("dynamodb", proxy.url), TABLE)
    proxy.set(mode)
    with pytest.raises(StoreError) as failed:
        store.get("TEST#x", "META")
    assert failed.value.message.startswith("the Keeper's table (DynamoDB) is unavailable; retry later (reading TEST#x")
    assert cause in failed.value.message
    assert failed.value.details == {"dependency": "dynamodb"}


def test_a_request_dynamodb_refuses_is_not_called_an_outage(moto_url: str, table: None) -> None:
    store = DynamoTable(client("dynamodb", moto_url), TABLE)
    with pytest.raises(StoreError) as failed:
        store.update("X", "META", "SET #a = :missing", {":other": 1}, {"#a": "a"})
    assert failed.value.message.startswith("DynamoDB refused updating X: ValidationException")
