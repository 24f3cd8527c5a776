"""The embedded AWS: moto in server mode, provisioned with the table, token queues, key and bucket."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from koipond.aws_clients import aws_client
from koipond.settings import Settings
from koipond.store.schema import create_table
from koipond.tokens.models import DEFAULT_MAX_RECEIVE_COUNT
from local_pond import moto_fixes
from local_pond.aws_guard import AwsKeyPair, EmbeddedAwsGuard
from local_pond.aws_state import SNAPSHOT_SECONDS, PersistentAwsApp, RestoreReport
from local_pond.moto_fixes import SerialDynamoDB

# The pond's account: moto's default, so ARNs it builds match what we compute.
POND_ACCOUNT = "123456789012"
# Retries before a batch of token jobs lands in the dead-letter queue (the CDK app uses the same).
MAX_RECEIVE_COUNT = DEFAULT_MAX_RECEIVE_COUNT


@dataclass(frozen=True)
class ProvisionedResources:
    table: str
    queue_url: str
    dlq_url: str
    bucket: str
    kms_key_id: str


def provision(settings: Settings, max_receive_count: int = MAX_RECEIVE_COUNT) -> ProvisionedResources:
    """Create (idempotently) everything the pond's components expect to find."""
    create_table(aws_client("dynamodb", settings), settings.table_name)
    queue_url, dlq_url = _provision_queues(settings, max_receive_count)
    key_id = _provision_key(settings)
    _provision_bucket(settings, key_id)
    return ProvisionedResources(settings.table_name, queue_url, dlq_url, settings.token_bucket, key_id)


def _provision_queues(settings: Settings, max_receive_count: int) -> tuple[str, str]:
    sqs = aws_client("sqs", settings)
    # Failed batches wait for a redrive for up to 14 days (SQS's longest retention).
    dlq_url = sqs.create_queue(QueueName=settings.token_dlq_name, Attributes={"MessageRetentionPeriod": "1209600"})[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    queue_url = sqs.create_queue(
        QueueName=settings.token_queue_name,
        Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "60"},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # Lets the console's (and our) DLQ redrive move messages back to the source queue only.
    allow = {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]}
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"RedriveAllowPolicy": json.dumps(allow)})
    return queue_url, dlq_url


def _provision_key(settings: Settings) -> str:
    kms = aws_client("kms", settings)
    aliases = kms.list_aliases()["Aliases"]
    for alias in aliases:
        if alias["AliasName"] == settings.token_kms_alias and "TargetKeyId" in alias:
            return str(alias["TargetKeyId"])
    key_id = str(kms.create_key(Description="koipond token shards")["KeyMetadata"]["KeyId"])
    kms.enable_key_rotation(KeyId=key_id)
    kms.create_alias(AliasName=settings.token_kms_alias, TargetKeyId=key_id)
    return key_id


def _provision_bucket(settings: Settings, key_id: str) -> None:
    s3 = aws_client("s3", settings)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if settings.token_bucket not in existing:
        s3.create_bucket(Bucket=settings.token_bucket)
    s3.put_bucket_encryption(
        Bucket=settings.token_bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=settings.token_bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    # :func:`token_bucket_policy` is not attached here: moto (5.2) applies a bucket policy's Deny
    # statements to every object request and skips their conditions, so it would refuse the worker's
    # own SSE-KMS writes over the pond's plain HTTP. The default encryption above still encrypts
    # every object; the CDK app attaches the policy on AWS.


def provision_notification_secret(settings: Settings, name: str, config: dict[str, Any], client: Any = None) -> None:
    """Create or update the Secrets Manager secret holding the notification routes (e.g. to a webhook sink).

    ``client``: a Secrets Manager client to use instead of one built from ``settings`` and the environment.
    """
    client = client or aws_client("secretsmanager", settings)
    value = json.dumps(config)
    try:
        client.create_secret(Name=name, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=value)


def sink_notification_config(sink_url: str, console_url: str | None = None) -> dict[str, Any]:
    """Routes every kind to a webhook sink twice: as a Workflow Builder trigger and as an incoming webhook."""
    from koipond.notifications.kinds import NotificationKind

    kinds = [k.value for k in NotificationKind]
    base = sink_url.rstrip("/")
    return {
        "routes": [
            {"name": "workflow", "type": "workflow", "url": f"{base}/triggers/pond", "kinds": kinds},
            {"name": "incoming", "type": "incoming", "url": f"{base}/services/pond", "kinds": kinds},
        ],
        "dashboard_url": console_url,
        "console_url": console_url,
    }


def token_bucket_policy(bucket: str, partition: str = "aws") -> dict[str, Any]:
    """The token bucket's policy on AWS: no upload that is not SSE-KMS, no access without TLS.

    The bucket's default encryption would encrypt a bare upload anyway; denying it still matters,
    because a writer that forgets the header is a writer that may also forget the key.
    """
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    objects = f"{bucket_arn}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyUploadsNotEncryptedWithKms",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            },
            {
                "Sid": "DenyUploadsWithoutEncryptionHeader",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def serve(
    settings: Settings,
    host: str,
    port: int,
    key_pair: AwsKeyPair,
    on_ready: Callable[[ProvisionedResources], None] | None = None,
    state_dir: Path | None = None,
    on_restored: Callable[[RestoreReport], None] | None = None,
    snapshot_seconds: float = SNAPSHOT_SECONDS,
) -> None:
    """Run moto's server behind :class:`EmbeddedAwsGuard` until SIGTERM/SIGINT, provisioned before ``on_ready``.

    This process's own clients sign with ``key_pair``: the caller puts it in the environment boto3 reads.
    With ``state_dir``, the state is restored from it first and kept there (:mod:`local_pond.aws_state`);
    without, it lives in this process's memory only.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_fixes.apply()
    moto_app = SerialDynamoDB(DomainDispatcherApplication(create_backend_app))
    persistent = PersistentAwsApp(moto_app, state_dir, snapshot_seconds) if state_dir is not None else None
    if persistent is not None:
        report = persistent.restore()
        if on_restored:
            on_restored(report)
    # Inside the guard: only requests it let through are journaled, and replays skip it (see PersistentAwsApp).
    guard = EmbeddedAwsGuard(persistent or moto_app, key_pair)
    server = make_server(host, port, guard, threaded=True, request_handler=MotoRequestHandler)
    threads = [threading.Thread(target=server.serve_forever, name="embedded-aws", daemon=True)]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads[0].start()
    try:
        resources = provision(settings.model_copy(update={"aws_endpoint": f"http://{host}:{port}"}))
        if persistent is not None:
            persistent.snapshot()  # the provisioned key and queues on disk before anyone relies on them
            threads.append(threading.Thread(target=persistent.run_snapshots, args=(stop,), name="aws-snapshots"))
            threads[-1].start()
        guard.provisioned.set()
        if on_ready:
            on_ready(resources)
        stop.wait()
    finally:
        stop.set()
        server.shutdown()
        for thread in threads:
            thread.join()
        if persistent is not None:
            persistent.close()
