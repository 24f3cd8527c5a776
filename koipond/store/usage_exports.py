"""Usage exports in S3, as behavior sources name them: one object read whole, bounded in size."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from koipond.errors import SourceUnreadableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_GZIP = 16 + zlib.MAX_WBITS


class S3UsageObjects:
    """Reads usage exports with the process's S3 client (the release tick's role may read only allowed prefixes)."""

    def __init__(self, client: Callable[[], S3Client]) -> None:
        self._client = client  # made on first use: most ticks read no export

    def read_text(self, bucket: str, key: str, max_bytes: int) -> str:
        where = f"s3://{bucket}/{key}"
        try:
            answer = self._client().get_object(Bucket=bucket, Key=key)
            size = int(answer.get("ContentLength", 0))
            if size > max_bytes:
                answer["Body"].close()
                raise SourceUnreadableError(f"{where} is {size:,} bytes; a usage export may be at most {max_bytes:,}")
            data = answer["Body"].read(max_bytes + 1)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise SourceUnreadableError(f"cannot read {where}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise SourceUnreadableError(f"cannot read {where}: {type(exc).__name__}") from exc
        if key.lower().endswith(".gz"):
            data = _gunzipped(data, max_bytes, where)
        if len(data) > max_bytes:
            raise SourceUnreadableError(f"{where} is larger than {max_bytes:,} bytes")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceUnreadableError(f"{where} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def _gunzipped(data: bytes, max_bytes: int, where: str) -> bytes:
    # Bounded: a small gzip bomb must not take the tick's memory.
    inflater = zlib.decompressobj(_GZIP)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise SourceUnreadableError(f"{where} is not gzip: {exc}") from exc
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise SourceUnreadableError(f"{where} unpacks to more than {max_bytes:,} bytes")
    return out
