"""The embedded AWS's state on disk: journaled writes, snapshots and restores into fresh moto backends."""

from __future__ import annotations

import io
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.base_backend import BackendDict
from werkzeug.test import EnvironBuilder

from local_pond.aws_requests import RequestKind
from local_pond.aws_requests import classify_request as classify
from local_pond.aws_state import PersistentAwsApp
from local_pond.pond import stored_admin_token

ENDPOINT = "http://127.0.0.1:4566"
REGION = "us-east-1"
TABLE = "state"
BUCKET = "state-bucket"


class _RawBody(io.BytesIO):
    """What botocore reads an answer from."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


class InProcessAws:
    """A fresh moto server app behind :class:`PersistentAwsApp`; boto3 clients reach it without a socket."""

    def __init__(self, state_dir: Path) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        BackendDict.reset()  # a new process's empty backends
        self.app = PersistentAwsApp(DomainDispatcherApplication(create_backend_app), state_dir)
        self.report = self.app.restore()

    def client(self, service: str) -> Any:
        client = boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=ENDPOINT,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.meta.events.register("before-send", self._send)
        return client

    def crash(self) -> None:
        """Leave the files as a kill -9 would: no last snapshot."""
        self.app.close(snapshot=False)

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body
        data = body.read() if hasattr(body, "read") else (body or b"")
        environ = EnvironBuilder(
            path=url.path,
            query_string=url.query,
            method=request.method,
            headers={k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()},
            data=data.encode() if isinstance(data, str) else data,
        ).get_environ()
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

        content = b"".join(self.app(environ, start_response))
        return AWSResponse(request.url, answer["status"], answer["headers"], _RawBody(content))


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "aws"
    BackendDict.reset()  # leave no state to other tests


def write_everything(aws: InProcessAws, start: int = 0, count: int = 20) -> None:
    """Items, an object, a message and a secret: one of each kind the pond stores."""
    dynamodb, s3, sqs = aws.client("dynamodb"), aws.client("s3"), aws.client("sqs")
    if start == 0:
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        s3.create_bucket(Bucket=BUCKET)
        sqs.create_queue(QueueName="jobs")
        aws.client("secretsmanager").create_secret(Name="routes", SecretString="v1")
    for i in range(start, start + count):
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": f"item-{i}"}, "n": {"N": str(i)}})
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "item-0"}},
        UpdateExpression="SET n = n + :one",
        ExpressionAttributeValues={":one": {"N": "1000"}},
    )
    s3.put_object(Bucket=BUCKET, Key=f"tokens/w/{start:06d}.json", Body=b'{"tokens": []}', Metadata={"job": "j"})
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="jobs")["QueueUrl"], MessageBody=f"batch {start}")
    aws.client("secretsmanager").put_secret_value(SecretId="routes", SecretString=f"v{start}")


def stored(aws: InProcessAws) -> dict[str, Any]:
    dynamodb, s3, sqs = aws.client("dynamodb"), aws.client("s3"), aws.client("sqs")
    items = dynamodb.scan(TableName=TABLE)["Items"]
    queue = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {
        "items": sorted((i["pk"]["S"], i["n"]["N"]) for i in items),
        "objects": {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys},
        "messages": sorted(m["Body"] for m in messages.get("Messages", [])),
        "secret": aws.client("secretsmanager").get_secret_value(SecretId="routes")["SecretString"],
    }


def test_journaled_writes_come_back_in_fresh_backends_without_a_snapshot(state_dir: Path) -> None:
    first = InProcessAws(state_dir)
    write_everything(first)
    before = stored(first)
    assert not first.app.snapshot_path.exists()  # only the journal holds them: as after a kill -9
    first.crash()

    second = InProcessAws(state_dir)

    assert stored(second) == before
    assert before["items"][0] == ("item-0", "1000")
    assert len(before["items"]) == 20
    assert (before["messages"], before["secret"]) == (["batch 0"], "v0")
    assert second.report.replayed > 20
    assert (second.report.failed, second.report.torn) == (0, 0)


def test_snapshot_then_journal_restores_both(state_dir: Path) -> None:
    first = InProcessAws(state_dir)
    write_everything(first, 0)
    first.app.snapshot()
    write_everything(first, 20)
    before = stored(first)
    first.crash()

    second = InProcessAws(state_dir)

    assert stored(second) == before
    assert len(before["items"]) == 40
    assert before["messages"] == ["batch 0", "batch 20"]
    assert second.report.snapshot_bytes > 0


def test_a_snapshot_empties_the_journal(state_dir: Path) -> None:
    aws = InProcessAws(state_dir)
    write_everything(aws)
    assert aws.app.journal_path.stat().st_size > 0

    aws.app.snapshot()

    assert aws.app.journal_path.stat().st_size == 0
    assert stat.S_IMODE(aws.app.snapshot_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


def test_a_torn_last_journal_line_is_skipped(state_dir: Path) -> None:
    first = InProcessAws(state_dir)
    write_everything(first)
    before = stored(first)
    with first.app.journal_path.open("ab") as journal:
        journal.write(b'{"seq": 999, "environ": {"REQUEST_METHOD": "PO')  # a write a crash cut short
    first.crash()

    second = InProcessAws(state_dir)

    assert stored(second) == before
    assert (second.report.torn, second.report.failed) == (1, 0)


def test_entries_already_in_the_snapshot_are_not_replayed_again(state_dir: Path) -> None:
    first = InProcessAws(state_dir)
    write_everything(first)
    journal = first.app.journal_path.read_bytes()
    first.app.snapshot()
    # A crash between the snapshot's rename and the journal's truncation leaves both on disk.
    first.app.journal_path.write_bytes(journal)
    first.crash()

    second = InProcessAws(state_dir)

    assert second.report.replayed == 0
    assert stored(second)["messages"] == ["batch 0"]  # sent once, not twice


def test_a_kms_key_is_on_disk_before_its_creation_is_answered(state_dir: Path) -> None:
    first = InProcessAws(state_dir)
    kms = first.client("kms")
    key_id = kms.create_key(Description="shards")["KeyMetadata"]["KeyId"]
    ciphertext = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    first.crash()

    second = InProcessAws(state_dir)

    assert second.client("kms").decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"secret"


def test_sqs_receives_are_left_to_snapshots_and_empty_ones_change_nothing(state_dir: Path) -> None:
    aws = InProcessAws(state_dir)
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    aws.app.snapshot()
    sqs.receive_message(QueueUrl=queue)
    assert aws.app.snapshot_if_changed() is None

    sqs.send_message(QueueUrl=queue, MessageBody="m")
    aws.app.snapshot()
    message = sqs.receive_message(QueueUrl=queue)["Messages"][0]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    assert aws.app.journal_path.stat().st_size == 0  # neither is journaled (receipt handles are random)
    assert aws.app.snapshot_if_changed() is not None


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("DynamoDB_20120810.PutItem", RequestKind.JOURNALED),
        ("DynamoDB_20120810.TransactWriteItems", RequestKind.JOURNALED),
        ("DynamoDB_20120810.UpdateTimeToLive", RequestKind.JOURNALED),
        ("DynamoDB_20120810.Query", RequestKind.READ),
        ("DynamoDB_20120810.TransactGetItems", RequestKind.READ),
        ("AmazonSQS.SendMessageBatch", RequestKind.JOURNALED),
        ("AmazonSQS.ReceiveMessage", RequestKind.SNAPSHOT_LATER),
        ("AmazonSQS.DeleteMessageBatch", RequestKind.SNAPSHOT_LATER),
        ("AmazonSQS.GetQueueAttributes", RequestKind.READ),
        ("TrentService.CreateKey", RequestKind.SNAPSHOT_NOW),
        ("TrentService.GenerateDataKey", RequestKind.READ),
        ("secretsmanager.PutSecretValue", RequestKind.JOURNALED),
        ("secretsmanager.GetSecretValue", RequestKind.READ),
    ],
)
def test_json_protocol_requests_are_classified_by_action(target: str, kind: RequestKind) -> None:
    assert classify({"HTTP_X_AMZ_TARGET": target, "REQUEST_METHOD": "POST"}, b"{}") is kind


@pytest.mark.parametrize(
    ("method", "query", "kind"),
    [
        ("PUT", "", RequestKind.JOURNALED),
        ("DELETE", "", RequestKind.JOURNALED),
        ("POST", "delete", RequestKind.JOURNALED),
        ("GET", "list-type=2", RequestKind.READ),
        ("HEAD", "", RequestKind.READ),
        ("POST", "uploads", RequestKind.SNAPSHOT_LATER),
        ("PUT", "partNumber=1&uploadId=u", RequestKind.SNAPSHOT_LATER),
        ("POST", "uploadId=u", RequestKind.SNAPSHOT_NOW),
    ],
)
def test_s3_requests_are_classified_by_method_and_query(method: str, query: str, kind: RequestKind) -> None:
    authorization = "AWS4-HMAC-SHA256 Credential=K/20261205/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"
    environ = {"REQUEST_METHOD": method, "QUERY_STRING": query, "HTTP_AUTHORIZATION": authorization}
    assert classify(environ, b"") is kind


def test_sqs_query_protocol_requests_are_classified_by_their_action_parameter() -> None:
    authorization = "AWS4-HMAC-SHA256 Credential=K/20261205/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x"
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "HTTP_AUTHORIZATION": authorization,
    }
    assert classify(environ, b"Action=SendMessage&MessageBody=x") is RequestKind.JOURNALED
    assert classify(environ, b"Action=DeleteMessage&ReceiptHandle=x") is RequestKind.SNAPSHOT_LATER


def test_two_embedded_aws_never_share_a_state_dir(state_dir: Path) -> None:
    InProcessAws(state_dir)

    with pytest.raises(RuntimeError, match="another embedded AWS"):
        InProcessAws(state_dir)


def test_the_stored_admin_token_is_made_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    token = stored_admin_token(tmp_path / "pond")

    assert stored_admin_token(tmp_path / "pond") == token
    assert stat.S_IMODE((tmp_path / "pond" / "admin-token").stat().st_mode) == 0o600
