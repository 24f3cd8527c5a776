"""The embedded AWS (``koipond aws``) serves this pond's signed clients only, never a web page."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from click.testing import CliRunner

from koipond.settings import Settings
from koipond_cli.main import cli
from local_pond.aws_guard import AwsKeyPair
from local_pond.pond import LocalPond, PondConfig

# What a page would send to mint itself an admin key: a KEY# item, straight into the table.
FORGED_KEY = {"pk": {"S": "KEY#forged"}, "sk": {"S": "KEY#forged"}, "role": {"S": "admin"}}


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    """Only the embedded AWS of a pond, with a key pair generated for this run."""
    pond = LocalPond(PondConfig(state_dir=tmp_path_factory.mktemp("aws-guard")))
    pond.aws.start(timeout=60)
    try:
        yield pond
    finally:
        pond.aws.stop()


def put_item(
    pond: LocalPond, key_pair: AwsKeyPair | None, headers: dict[str, str] | None = None, item: Any = FORGED_KEY
) -> httpx.Response:
    """A DynamoDB PutItem of ``item``, signed with ``key_pair`` (None: unsigned), plus ``headers``."""
    body = json.dumps({"TableName": Settings().table_name, "Item": item})
    request = AWSRequest(
        method="POST",
        url=f"{pond.aws_url}/",
        data=body.encode(),
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.PutItem"},
    )
    if key_pair is not None:
        credentials = Credentials(key_pair.access_key_id, key_pair.secret_access_key)
        SigV4Auth(credentials, "dynamodb", "us-east-1").add_auth(request)
    prepared = request.prepare()
    assert isinstance(prepared.body, bytes)
    return httpx.post(prepared.url, content=prepared.body, headers={**dict(prepared.headers), **(headers or {})})


def forged_key_stored(pond: LocalPond) -> bool:
    key = {"pk": FORGED_KEY["pk"], "sk": FORGED_KEY["sk"]}
    return "Item" in pond.aws_client("dynamodb").get_item(TableName=Settings().table_name, Key=key)


def cors_headers(response: httpx.Response) -> list[str]:
    return [name for name in response.headers if name.lower().startswith("access-control-")]


def refusal(response: httpx.Response) -> tuple[int, str]:
    code: str = response.json()["error"]["code"]
    return response.status_code, code


def test_the_ponds_own_clients_reach_every_service_it_uses(pond: LocalPond) -> None:
    settings = Settings()
    assert settings.table_name in pond.aws_client("dynamodb").list_tables()["TableNames"]
    s3 = pond.aws_client("s3")
    s3.put_object(Bucket=settings.token_bucket, Key="tokens/job 1/ü+shard.json", Body=b"[]")
    assert s3.get_object(Bucket=settings.token_bucket, Key="tokens/job 1/ü+shard.json")["Body"].read() == b"[]"
    sqs = pond.aws_client("sqs")
    queue_url = sqs.get_queue_url(QueueName=settings.token_queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="a&b=c")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue_url)["Messages"]] == ["a&b=c"]
    assert pond.aws_client("kms").encrypt(KeyId=settings.token_kms_alias, Plaintext=b"x")["CiphertextBlob"]
    pond.aws_client("secretsmanager").create_secret(Name="koipond/guard-test", SecretString="{}")


def test_a_signed_request_is_served_without_cors_headers(pond: LocalPond) -> None:
    answer = put_item(pond, pond.config.aws_key_pair, item={"pk": {"S": "GUARD#signed"}, "sk": {"S": "GUARD#signed"}})
    assert answer.status_code == 200
    assert cors_headers(answer) == []


def test_a_web_page_cannot_mint_itself_an_admin_key(pond: LocalPond) -> None:
    answer = put_item(pond, None, {"Origin": "https://evil.example"})
    assert refusal(answer) == (403, "browser_request")
    assert cors_headers(answer) == []
    assert not forged_key_stored(pond)


def test_a_request_with_an_origin_is_refused_even_when_signed(pond: LocalPond) -> None:
    answer = put_item(pond, pond.config.aws_key_pair, {"Origin": "http://localhost:8700"})
    assert refusal(answer) == (403, "browser_request")
    assert cors_headers(answer) == []


def test_a_cors_preflight_is_refused(pond: LocalPond) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    answer = httpx.options(f"{pond.aws_url}/", headers=headers)
    assert answer.status_code == 403
    assert cors_headers(answer) == []


def test_an_unsigned_request_is_refused(pond: LocalPond) -> None:
    assert refusal(put_item(pond, None)) == (403, "unsigned_request")
    assert httpx.get(f"{pond.aws_url}/moto-api/data.json").status_code == 403  # moto's dump of every item
    assert not forged_key_stored(pond)


def test_a_request_signed_with_another_key_is_refused(pond: LocalPond) -> None:
    assert refusal(put_item(pond, AwsKeyPair("koipond", "koipond"))) == (403, "unknown_access_key")
    assert not forged_key_stored(pond)


def test_a_request_signed_with_the_key_id_but_another_secret_is_refused(pond: LocalPond) -> None:
    guessed = AwsKeyPair(pond.config.aws_key_pair.access_key_id, "guessed")
    assert refusal(put_item(pond, guessed)) == (403, "bad_signature")
    assert not forged_key_stored(pond)


def test_a_request_signed_twenty_minutes_ago_is_refused_as_a_replay(
    pond: LocalPond, monkeypatch: pytest.MonkeyPatch
) -> None:
    then = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)
    assert refusal(put_item(pond, pond.config.aws_key_pair)) == (403, "request_time_too_skewed")
    monkeypatch.undo()
    assert not forged_key_stored(pond)


def test_an_sdk_signing_with_other_credentials_gets_a_403(pond: LocalPond) -> None:
    import boto3

    other: Any = boto3.client(
        "dynamodb", endpoint_url=pond.aws_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    with pytest.raises(ClientError) as refused:
        other.list_tables()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_listening_beyond_loopback_needs_an_explicit_flag() -> None:
    result = CliRunner().invoke(cli, ["aws", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output
