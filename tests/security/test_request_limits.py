"""Limits the Keeper's handler enforces before parsing (issue 14): body size, JSON nesting, content type,
and the headers on every answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from lambdas.keeper_api.gate import DEFAULT_BODY_LIMIT, MAX_JSON_DEPTH, json_depth
from local_pond.lambda_http import LocalLambdaContext, build_event
from tests.conftest import ADMIN_TOKEN, MINIMAL_BEHAVIOR, Api, new_test_body

JSON = "application/json"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def code(self) -> str:
        return str(self.body["error"]["code"])


def send(
    method: str, path: str, body: bytes = b"", content_type: str | None = JSON, token: str | None = None
) -> Answer:
    """Call the handler with exactly these headers (the conftest Api always sends a JSON content type)."""
    from lambdas.keeper_api.handler import lambda_handler

    headers = {"host": "keeper.test"}
    if content_type is not None:
        headers["content-type"] = content_type
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    result = lambda_handler(build_event(method, path, headers, body, "127.0.0.1"), LocalLambdaContext("test"))
    text = result.get("body") or ""
    is_json = result["headers"].get("Content-Type", "").startswith(JSON)
    return Answer(result["statusCode"], result["headers"], json.loads(text) if is_json and text else text)


def nested(depth: int) -> bytes:
    return b'{"name": ' + b"[" * depth + b"]" * depth + b"}"


# --- body size -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, ADMIN_TOKEN], ids=["no-token", "admin"])
def test_a_body_over_the_default_limit_is_413_before_anything_else(api: Api, token: str | None) -> None:
    answer = send("POST", "/v1/tests", b"x" * 3_500_000, token=token)
    assert (answer.status, answer.code) == (413, "payload_too_large")
    assert answer.body["error"]["details"] == {"limit": DEFAULT_BODY_LIMIT}


def test_a_body_just_over_64_kib_is_413_and_one_under_is_read(api: Api) -> None:
    padding = {"tags": ["t"], "name": "n" * 50}
    under = json.dumps(new_test_body(**padding)).encode()
    assert send("POST", "/v1/tests", under + b" " * (DEFAULT_BODY_LIMIT - len(under)), token=ADMIN_TOKEN).status == 201
    over = under + b" " * (DEFAULT_BODY_LIMIT - len(under) + 1)
    assert send("POST", "/v1/tests", over, token=ADMIN_TOKEN).status == 413


def test_a_behavior_upload_may_be_larger_than_other_bodies(api: Api) -> None:
    document = {**MINIMAL_BEHAVIOR, "description": "a behavior with long bodies"}
    document["actions"] = {
        f"a{n}": {**MINIMAL_BEHAVIOR["actions"]["auth_test"], "body": {"text": "x" * 1500}} for n in range(60)
    }
    raw = json.dumps(document).encode()
    assert DEFAULT_BODY_LIMIT < len(raw) < 256 * 1024
    assert send("PUT", "/v1/behaviors/big", raw, token=ADMIN_TOKEN).status == 201
    assert send("POST", "/v1/emergency-stop", raw, token=ADMIN_TOKEN).status == 413


# --- nesting -------------------------------------------------------------------------------------


def test_json_nested_10000_deep_is_400_not_a_server_error(api: Api) -> None:
    answer = send("POST", "/v1/tests", nested(10_000), token=ADMIN_TOKEN)
    assert (answer.status, answer.code) == (400, "json_too_deep")
    assert str(MAX_JSON_DEPTH) in answer.body["error"]["message"]
    assert api.get("/v1/tests").body["tests"] == []


def test_json_nested_deep_without_a_token_is_401(api: Api) -> None:
    assert send("POST", "/v1/tests", nested(10_000)).status == 401


def test_nesting_at_the_limit_goes_on_to_validation(api: Api) -> None:
    assert send("POST", "/v1/tests", nested(MAX_JSON_DEPTH - 1), token=ADMIN_TOKEN).status == 422
    assert send("POST", "/v1/tests", nested(MAX_JSON_DEPTH), token=ADMIN_TOKEN).status == 400


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[[[[["}', 1),
        ('{"a": "\\"[[[["}', 1),
        ('"unterminated [[[[', 0),
        ("]]]][[", 2),
    ],
)
def test_depth_is_counted_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_depth_of_many_quotes_is_counted_in_linear_time() -> None:
    assert json_depth('"' + '\\"' * 100_000) == 0  # a pattern that backtracked here would take minutes


# --- content type --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_body_without_a_json_content_type_is_415(api: Api, content_type: str | None) -> None:
    answer = send("POST", "/v1/emergency-stop", b'{"reason": "drill"}', content_type, ADMIN_TOKEN)
    assert (answer.status, answer.code) == (415, "unsupported_media_type")
    assert api.get("/v1/emergency-stop").body["active"] is False


def test_json_with_a_charset_is_json(api: Api) -> None:
    answer = send("POST", "/v1/emergency-stop", b'{"reason": "drill"}', "application/json; charset=utf-8", ADMIN_TOKEN)
    assert answer.status == 200


def test_no_body_needs_no_content_type(api: Api) -> None:
    assert send("GET", "/v1/tests", content_type=None, token=ADMIN_TOKEN).status == 200


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "token", "status"),
    [
        ("GET", "/v1/tests", b"", ADMIN_TOKEN, 200),
        ("GET", "/v1/tests", b"", None, 401),
        ("GET", "/v1/tests/lt-0000000000", b"", ADMIN_TOKEN, 404),
        ("POST", "/v1/tests", b"{}", ADMIN_TOKEN, 422),
        ("POST", "/v1/tests", b"x" * 100_000, None, 413),
        ("GET", "/healthz", b"", None, 200),
        ("GET", "/openapi.json", b"", None, 200),
    ],
)
def test_every_api_answer_is_not_stored_and_not_sniffed(
    api: Api, method: str, path: str, body: bytes, token: str | None, status: int
) -> None:
    answer = send(method, path, body, token=token)
    assert answer.status == status
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_the_console_keeps_its_own_short_caching(api: Api) -> None:
    answer = send("GET", "/ui/app.js", content_type=None)
    assert answer.status == 200
    assert answer.headers["Cache-Control"].startswith("public, max-age=")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert [k for k in answer.headers if k.lower() == "cache-control"] == ["Cache-Control"]
