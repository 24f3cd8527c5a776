"""boto3 clients for every AWS service koipond calls (DynamoDB, SQS, S3, KMS, Secrets Manager), made on first use."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# Bounded timeouts: a slow AWS call fails one batch (which is retried), it never hangs a worker, and a
# Keeper call that queues a token job's plan fails within ~12 s (3 attempts of at most 4 s each), inside
# the CLI's 15 s and API Gateway's 29 s: a Keeper cut off at 29 s could not mark the job failed, and a
# black-holed SQS left it "planning" forever. SQS, S3 and KMS answer in milliseconds when they answer.
DEFAULT_CONFIG = Config(connect_timeout=2, read_timeout=4, retries={"mode": "standard", "total_max_attempts": 3})


# For probing whether an endpoint implements an action: an unimplemented one answers 500, which
# the default retries would repeat with growing delays.
_SINGLE_ATTEMPT = DEFAULT_CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 1}))


def boto3_client(service: str, endpoint: str | None, region: str, config: Config = DEFAULT_CONFIG) -> Any:
    """A client for real AWS, or for the embedded AWS at ``endpoint``; either way with the process's credentials.

    The embedded AWS accepts only the key pair its pond generated, which the pond passes to every
    component in ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``.
    """
    return boto3.client(service, endpoint_url=endpoint or None, region_name=region, config=config)  # type: ignore[call-overload]


class AwsLocation(Protocol):
    """Where AWS is for this process: the settings object satisfies it (kept a port so settings may use clients)."""

    @property
    def aws_endpoint(self) -> str | None: ...

    @property
    def aws_region(self) -> str: ...


def aws_client(service: str, settings: AwsLocation, config: Config = DEFAULT_CONFIG) -> Any:
    """A client for real AWS, or for the embedded AWS when ``aws_endpoint`` is set."""
    return boto3_client(service, settings.aws_endpoint, settings.aws_region, config)


class AwsClients:
    """One client per service per process, created when first used (a Keeper call may never need SQS)."""

    def __init__(self, settings: AwsLocation) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = {}
        # boto3's default session is not thread-safe while it creates clients.
        self._lock = threading.Lock()

    def _client(self, service: str, single_attempt: bool = False) -> Any:
        name = f"{service}/single" if single_attempt else service
        with self._lock:
            if name not in self._clients:
                config = _SINGLE_ATTEMPT if single_attempt else DEFAULT_CONFIG
                self._clients[name] = aws_client(service, self._settings, config)
            return self._clients[name]

    @property
    def sqs(self) -> SQSClient:
        client: SQSClient = self._client("sqs")
        return client

    @property
    def sqs_single_attempt(self) -> SQSClient:
        """SQS without retries, for probing an action the endpoint may not implement."""
        client: SQSClient = self._client("sqs", single_attempt=True)
        return client

    @property
    def s3(self) -> S3Client:
        client: S3Client = self._client("s3")
        return client

    @property
    def kms(self) -> KMSClient:
        client: KMSClient = self._client("kms")
        return client


def dynamodb_client(settings: AwsLocation) -> DynamoDBClient:
    """A DynamoDB client for real AWS, or for the embedded AWS when ``aws_endpoint`` is set."""
    # Bounded timeouts and adaptive retries: a throttled table slows a poll, it does not hang it. A table
    # that never answers fails a call in ~10 s (2 attempts of at most 2 + 4 s), so the Keeper answers 503
    # inside a School's 10 s poll timeout and the CLI's 15 s, instead of 60 s later (botocore's
    # "max_attempts: 5" meant 6 attempts of 10 s).
    config = Config(connect_timeout=2, read_timeout=4, retries={"mode": "adaptive", "total_max_attempts": 2})
    client: DynamoDBClient = aws_client("dynamodb", settings, config)
    return client
