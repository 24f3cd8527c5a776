"""The token bucket: SSE-KMS by default, and a policy that refuses unencrypted uploads and plain HTTP."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import boto3
import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from koipond.settings import Settings
from local_pond.aws import provision, token_bucket_policy

BUCKET = "koipond-tokens"
OBJECT = f"arn:aws:s3:::{BUCKET}/tokens/pond/000000.json"
SSE = "s3:x-amz-server-side-encryption"
TLS = {"aws:SecureTransport": "true"}


def explicitly_denied(policy: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether a Deny statement of ``policy`` matches, by IAM's rules for the operators it uses.

    moto's evaluator cannot say (see the last test), so this one implements exactly these rules:
    StringNotEquals holds when the key is absent or differs; Null "true" holds when it is absent;
    Bool holds when the key is present and equal.
    """
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] != "Deny" or not fnmatch.fnmatchcase(action, statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in resources):
            continue
        if all(
            _holds(op, key, value, context)
            for op, keys in statement["Condition"].items()
            for key, value in keys.items()
        ):
            return True
    return False


def _holds(operator: str, key: str, value: str, context: dict[str, str]) -> bool:
    if operator == "StringNotEquals":
        return context.get(key) != value
    if operator == "Null":
        return (key not in context) == (value == "true")
    if operator == "Bool":
        return context.get(key) == value
    raise AssertionError(f"no rule for {operator}")


def test_the_policy_denies_uploads_that_are_not_sse_kms_and_any_access_without_tls() -> None:
    policy = token_bucket_policy(BUCKET)

    assert explicitly_denied(policy, "s3:PutObject", OBJECT, {**TLS})  # no encryption header
    assert explicitly_denied(policy, "s3:PutObject", OBJECT, {**TLS, SSE: "AES256"})
    assert not explicitly_denied(policy, "s3:PutObject", OBJECT, {**TLS, SSE: "aws:kms"})
    assert explicitly_denied(policy, "s3:PutObject", OBJECT, {"aws:SecureTransport": "false", SSE: "aws:kms"})
    assert explicitly_denied(policy, "s3:GetObject", OBJECT, {"aws:SecureTransport": "false"})
    assert explicitly_denied(policy, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}", {"aws:SecureTransport": "false"})
    assert not explicitly_denied(policy, "s3:GetObject", OBJECT, {**TLS})


def test_the_policy_statements_are_exactly_these() -> None:
    bucket, objects = f"arn:aws-cn:s3:::{BUCKET}", f"arn:aws-cn:s3:::{BUCKET}/*"
    deny: dict[str, Any] = {"Effect": "Deny", "Principal": "*"}

    assert token_bucket_policy(BUCKET, partition="aws-cn") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyUploadsNotEncryptedWithKms",
                **deny,
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"StringNotEquals": {SSE: "aws:kms"}},
            },
            {
                "Sid": "DenyUploadsWithoutEncryptionHeader",
                **deny,
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"Null": {SSE: "true"}},
            },
            {
                "Sid": "DenyInsecureTransport",
                **deny,
                "Action": "s3:*",
                "Resource": [bucket, objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def test_the_pond_bucket_encrypts_every_object_with_the_kms_key_and_blocks_public_access(
    settings: Settings, dynamodb: Any
) -> None:
    resources = provision(settings)
    s3 = boto3.client("s3", region_name="us-east-1")

    s3.put_object(Bucket=resources.bucket, Key="tokens/pond/bare.json", Body=b"{}")  # no SSE header

    head = s3.head_object(Bucket=resources.bucket, Key="tokens/pond/bare.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(resources.kms_key_id)
    block = s3.get_public_access_block(Bucket=resources.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


@pytest.mark.parametrize("context", [{**TLS, SSE: "aws:kms"}, {**TLS, SSE: "AES256"}])
def test_moto_cannot_evaluate_the_policy_so_the_pond_does_not_attach_it(context: dict[str, str]) -> None:
    # moto 5.2 knows only StringEquals and treats other operators as met, so every Deny applies:
    # attached in the pond, the policy would refuse the worker's own SSE-KMS uploads.
    verdict = IAMPolicy(json.dumps(token_bucket_policy(BUCKET))).is_action_permitted(
        "s3:PutObject", OBJECT, incoming_condition_values=context
    )
    assert verdict == PermissionResult.DENIED
