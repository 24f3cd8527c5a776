"""Shared fixtures: an in-process embedded AWS (moto), a fixed clock, a Keeper, and an API caller."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, get_keeper, injected_keeper
from koipond.errors import LostLeaseError, StoreError
from koipond.settings import Settings
from koipond.store.schema import create_table
from local_pond import moto_fixes
from local_pond.lambda_http import LocalLambdaContext, build_event

ADMIN_TOKEN = "test-admin-token"
_POLL = re.compile(r"/v1/schools/[^/]+/poll")
START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

# Never reach real AWS from tests, whatever the machine's environment holds.
for _name in list(os.environ):
    if _name.startswith(("KOIPOND_", "AWS_")):
        del os.environ[_name]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings() -> Settings:
    return Settings(admin_token=ADMIN_TOKEN, poll_interval_seconds=5, missed_polls=3, table_name="koipond-test")


@pytest.fixture(scope="module")
def moto_dynamodb() -> Iterator[Any]:
    """One in-process embedded DynamoDB per test module (creating boto3 clients is the slow part), with
    the embedded AWS's fixes (a failed transaction rolls back only its own items, as in the pond)."""
    moto_fixes.apply()
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def dynamodb(moto_dynamodb: Any, settings: Settings) -> Iterator[Any]:
    """A fresh, empty table for each test."""
    create_table(moto_dynamodb, settings.table_name)
    yield moto_dynamodb
    moto_dynamodb.delete_table(TableName=settings.table_name)


@pytest.fixture
def keeper(settings: Settings, dynamodb: Any, clock: FixedClock) -> Iterator[Keeper]:
    built = build_keeper(settings, dynamodb, clock)
    with injected_keeper(built):
        yield built


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error_code(self) -> str:
        return str(self.body["error"]["code"])


class Api:
    """Calls the Keeper Lambda handler with API Gateway v2 events, exactly as API Gateway would."""

    def __init__(self, token: str | None = ADMIN_TOKEN) -> None:
        self.token = token

    def as_(self, token: str | None) -> Api:
        return Api(token)

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> ApiResponse:
        from lambdas.keeper_api.handler import lambda_handler

        headers = {"content-type": "application/json", "host": "keeper.test"}
        if self.token is not None:
            headers["authorization"] = f"Bearer {self.token}"
        payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        event = build_event(method, path, headers, payload, "127.0.0.1")
        result = lambda_handler(event, LocalLambdaContext("test"))
        if method == "POST" and _POLL.fullmatch(path) and result["statusCode"] == 200:
            # In process no allocator thread runs: let it make one pass after the heartbeat, then poll
            # again, which is what the School's next poll would see a second later.
            with contextlib.suppress(StoreError, LostLeaseError):  # as the allocator's loop does
                get_keeper().allocator.run_pass()
            result = lambda_handler(event, LocalLambdaContext("test"))
        text = result.get("body") or ""
        return ApiResponse(result["statusCode"], json.loads(text) if text else None, result.get("headers") or {})

    def get(self, path: str) -> ApiResponse:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> ApiResponse:
        return self.call("POST", path, body)

    def patch(self, path: str, body: Any = None) -> ApiResponse:
        return self.call("PATCH", path, body)

    def put(self, path: str, body: Any = None) -> ApiResponse:
        return self.call("PUT", path, body)

    def delete(self, path: str, body: Any = None) -> ApiResponse:
        return self.call("DELETE", path, body)


MINIMAL_BEHAVIOR: dict[str, Any] = {
    "description": "one cheap call",
    "actions": {"auth_test": {"method": "POST", "path": "/api/auth.test", "rate_per_hour": 1}},
}


@pytest.fixture
def api(keeper: Keeper) -> Api:
    """An admin caller, with the ``average_user`` behavior uploaded."""
    caller = Api()
    assert caller.put("/v1/behaviors/average_user", MINIMAL_BEHAVIOR).status == 201
    return caller


def new_test_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "nightly",
        "target": "http://127.0.0.1:8800",
        "behavior": "average_user",
        "workspace": "pond",
        "koi": 2000,
    }
    body.update(overrides)
    return body


def issue_token(api: Api, role: str, name: str | None = None) -> str:
    body = {"name": name or f"{role} key", "role": role}
    if role == "school":
        body["school_prefix"] = "s"  # a school key is bound to its Schools; the tests' are s1, s2, …
    response = api.post("/v1/keys", body)
    assert response.status == 201, response.body
    return str(response.body["token"])
