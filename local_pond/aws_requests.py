"""Which embedded-AWS requests change stored state, and what persisting each takes (see :mod:`aws_state`)."""

from __future__ import annotations

import enum
from typing import Any
from urllib.parse import parse_qs

from local_pond.aws_backends import STATE_SERVICES

_TARGET_SERVICES = {
    "DynamoDB": "dynamodb",
    "AmazonSQS": "sqs",
    "TrentService": "kms",
    "secretsmanager": "secretsmanager",
}
_READS = {
    "dynamodb": ("Get", "BatchGet", "Query", "Scan", "Describe", "List", "TransactGet"),
    "sqs": ("Get", "List"),
    "kms": ("Describe", "Get", "List", "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateRandom"),
    "secretsmanager": ("Get", "Describe", "List", "BatchGet", "ValidateResourcePolicy"),
}
# Receipt handles are random: replaying a delete would miss its message. A snapshot keeps these.
_SQS_SNAPSHOT_ONLY = ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "StartMessageMoveTask")


class RequestKind(enum.Enum):
    READ = "read"  # changes nothing
    JOURNALED = "journaled"  # deterministic change: journaled before the answer
    SNAPSHOT_NOW = "snapshot_now"  # rare non-deterministic change: snapshot before the answer
    SNAPSHOT_LATER = "snapshot_later"  # frequent non-deterministic change: in the next snapshot


def classify_request(environ: dict[str, Any], body: bytes) -> RequestKind:
    """What persisting this request's effect takes, read from the request itself."""
    return classify(environ, *service_and_action(environ, body))


def classify(environ: dict[str, Any], service: str, action: str) -> RequestKind:
    """What persisting this request's effect takes, from its service (SigV4 scope or target) and action."""
    if service not in STATE_SERVICES:
        return RequestKind.READ  # nothing of it is kept
    if service == "s3":
        return _classify_s3(environ)
    if action.startswith(_READS[service]):
        return RequestKind.READ
    if service == "sqs" and action.startswith(_SQS_SNAPSHOT_ONLY):
        return RequestKind.SNAPSHOT_LATER
    if service == "kms":
        return RequestKind.SNAPSHOT_NOW  # key ids and key material are random
    return RequestKind.JOURNALED


def service_and_action(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        prefix, _, action = target.partition(".")
        return _TARGET_SERVICES.get(prefix.split("_")[0], prefix.lower()), action
    # Credential=KEY/DATE/REGION/SERVICE/aws4_request: the guard let only signed requests through.
    scope = str(environ.get("HTTP_AUTHORIZATION", "")).split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    service = scope[3] if len(scope) == 5 else ""
    action = ""
    if str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]  # SQS's query protocol
    return service, action


def _classify_s3(environ: dict[str, Any]) -> RequestKind:
    method = environ.get("REQUEST_METHOD", "GET")
    if method in ("GET", "HEAD"):
        return RequestKind.READ
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if "uploads" in query or "uploadId" in query:
        # Upload ids are random: a replayed part would miss its upload. Completing one is what a client
        # is told succeeded, so that one is snapshotted before it answers.
        return RequestKind.SNAPSHOT_NOW if method == "POST" and "uploadId" in query else RequestKind.SNAPSHOT_LATER
    return RequestKind.JOURNALED
