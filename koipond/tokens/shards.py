"""Token shards in S3: one object per batch, always written with SSE-KMS under the pipeline's key."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from koipond.aws_clients import AwsClients
from koipond.errors import StoreError
from koipond.tokens.models import ShardDocument, shard_key

# Object metadata naming the job that wrote a shard: a retried batch whose shard is already stored
# (the write succeeded, marking it done did not) is not minted again.
JOB_ID_METADATA = "koipond-job-id"
_T = TypeVar("_T")


class S3TokenShardStore:
    """Reads and writes :class:`ShardDocument` objects ``tokens/{workspace}/{shard:06d}.json``."""

    def __init__(self, clients: AwsClients, bucket: str, kms_key: str) -> None:
        self._clients = clients
        self.bucket = bucket
        self._kms_key = kms_key
        self._key_arn: str | None = None
        self._lock = threading.Lock()

    def key_arn(self) -> str:
        """The KMS key's ARN (resolved once from its alias): S3 records the ARN, and policies match it."""
        with self._lock:
            if self._key_arn is None:
                try:
                    metadata = self._clients.kms.describe_key(KeyId=self._kms_key)["KeyMetadata"]
                except (ClientError, BotoCoreError) as exc:
                    raise StoreError(f"finding KMS key {self._kms_key} failed: {exc}") from exc
                self._key_arn = str(metadata["Arn"])
            return self._key_arn

    def put(self, document: ShardDocument) -> str:
        """Store one shard, encrypted with the pipeline's KMS key.

        Returns:
            The object key.

        Raises:
            StoreError: S3 or KMS refused or failed (the message never holds the document).
        """
        key = shard_key(document.workspace, document.shard)
        try:
            self._clients.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                # A stream, not bytes: botocore's debug log prints a bytes body but only a stream's repr.
                Body=io.BytesIO(document.model_dump_json().encode()),
                ContentType="application/json",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self.key_arn(),
                Metadata={JOB_ID_METADATA: document.job_id},
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"writing s3://{self.bucket}/{key} failed: {_code(exc)}") from None
        return key

    def stored_by(self, workspace: str, shard: int) -> str | None:
        """The job that wrote the stored shard, or None when there is none."""
        key = shard_key(workspace, shard)
        head = self._read(key, lambda: self._clients.s3.head_object(Bucket=self.bucket, Key=key))
        return None if head is None else head.get("Metadata", {}).get(JOB_ID_METADATA)

    def get(self, workspace: str, shard: int) -> ShardDocument | None:
        """The stored shard, or None when there is none."""
        key = shard_key(workspace, shard)
        body = self._read(key, lambda: self._clients.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        if body is None:
            return None
        try:
            return ShardDocument.model_validate_json(body)
        except ValidationError:
            # The validation error would quote the document, tokens and all.
            raise StoreError(f"s3://{self.bucket}/{key} is not a token shard") from None

    def _read(self, key: str, read: Callable[[], _T]) -> _T | None:
        """What ``read`` returns of the object ``key``; None when there is no such object.

        Raises:
            StoreError: S3 refused or failed (the message names the object, never its contents).
        """
        try:
            return read()
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, ClientError) and _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"reading s3://{self.bucket}/{key} failed: {_code(exc)}") from None


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__
