"""Reading usage exports from S3 (the embedded AWS): gzip, bounded size, and errors that name the object."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from koipond.errors import SourceUnreadableError
from koipond.store.usage_exports import S3UsageObjects


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="usage")
        yield client


def test_an_export_is_read_as_text_and_gunzipped_by_its_suffix(s3: Any) -> None:
    s3.put_object(Bucket="usage", Key="a.csv", Body="\ufeffuser,method,calls\n".encode())
    s3.put_object(Bucket="usage", Key="a.csv.gz", Body=gzip.compress(b"user,method,calls\n"))
    objects = S3UsageObjects(lambda: s3)
    assert objects.read_text("usage", "a.csv", 1000) == "user,method,calls\n"
    assert objects.read_text("usage", "a.csv.gz", 1000) == "user,method,calls\n"


@pytest.mark.parametrize(
    ("key", "body", "problem"),
    [
        ("missing.csv", None, "cannot read s3://usage/missing.csv: NoSuchKey"),
        ("big.csv", b"x" * 2000, "is 2,000 bytes; a usage export may be at most 1,000"),
        ("bomb.csv.gz", gzip.compress(b"x" * 100_000), "unpacks to more than 1,000 bytes"),
        ("fake.csv.gz", b"not gzip", "is not gzip"),
        ("latin1.csv", "café".encode("latin-1"), "is not UTF-8 text"),
    ],
)
def test_an_unreadable_export_is_refused_naming_the_object(s3: Any, key: str, body: bytes | None, problem: str) -> None:
    if body is not None:
        s3.put_object(Bucket="usage", Key=key, Body=body)
    with pytest.raises(SourceUnreadableError, match=problem):
        S3UsageObjects(lambda: s3).read_text("usage", key, 1000)
