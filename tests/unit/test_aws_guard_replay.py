"""The embedded AWS's front door keeps AWS's 15-minute window: a captured signed request cannot be replayed later."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from local_pond.aws_guard import MAX_CLOCK_SKEW_SECONDS, AwsKeyPair, EmbeddedAwsGuard

KEYS = AwsKeyPair("KOIPONDTEST", "secret-of-this-run")


def signed_environ(key_pair: AwsKeyPair = KEYS) -> dict[str, Any]:
    """A WSGI environ of a DynamoDB GetItem signed now by botocore, as the pond's own clients send it."""
    body = json.dumps({"TableName": "koipond", "Key": {"pk": {"S": "KEY#x"}, "sk": {"S": "KEY#x"}}}).encode()
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:4566/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"},
    )
    SigV4Auth(Credentials(key_pair.access_key_id, key_pair.secret_access_key), "dynamodb", "us-east-1").add_auth(
        request
    )
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "REQUEST_URI": "/",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_HOST": "127.0.0.1:4566",
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ


def answer(guard: EmbeddedAwsGuard, environ: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    seen: list[str] = []

    def start_response(status: str, _headers: list[tuple[str, str]], *_rest: Any) -> None:
        seen.append(status)

    body = b"".join(guard(environ, start_response))
    return seen[0], json.loads(body)


def served(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"served": true}']


def guard_at(offset: float) -> EmbeddedAwsGuard:
    """A guard whose clock reads ``offset`` seconds from the real time the request is signed at."""
    return EmbeddedAwsGuard(served, KEYS, clock=lambda: time.time() + offset)


def test_a_request_signed_now_is_served() -> None:
    assert answer(guard_at(0), signed_environ()) == ("200 OK", {"served": True})


@given(st.floats(-MAX_CLOCK_SKEW_SECONDS + 5, MAX_CLOCK_SKEW_SECONDS - 5))
def test_a_request_inside_the_window_is_served(offset: float) -> None:
    assert answer(guard_at(offset), signed_environ())[0] == "200 OK"


@pytest.mark.parametrize("offset", [MAX_CLOCK_SKEW_SECONDS + 5, -MAX_CLOCK_SKEW_SECONDS - 5, 86_400.0])
def test_a_replay_after_the_window_or_a_request_from_the_future_is_refused(offset: float) -> None:
    status, body = answer(guard_at(offset), signed_environ())
    assert status == "403 Forbidden"
    assert body["error"]["code"] == "request_time_too_skewed"


def test_the_clock_is_not_told_to_someone_without_the_key() -> None:
    # A stale request with a wrong secret learns only that its signature is wrong.
    status, body = answer(guard_at(86_400.0), signed_environ(AwsKeyPair(KEYS.access_key_id, "guessed")))
    assert (status, body["error"]["code"]) == ("403 Forbidden", "bad_signature")


def test_a_changed_date_header_breaks_the_signature_rather_than_moving_the_window() -> None:
    environ = signed_environ()
    environ["HTTP_X_AMZ_DATE"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + 3600))
    status, body = answer(guard_at(3600), environ)
    assert (status, body["error"]["code"]) == ("403 Forbidden", "bad_signature")
