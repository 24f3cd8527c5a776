"""Bad input to the Keeper API: a clear 4xx JSON error naming the problem, never a 500, nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from koipond.settings import Settings
from local_pond.lambda_http import LocalLambdaContext, build_event
from tests.conftest import ADMIN_TOKEN, MINIMAL_BEHAVIOR, Api, ApiResponse, new_test_body

UNKNOWN_TEST_ID = "lt-0000000000"


@dataclass
class Pond:
    """The API with one running test, and a view of everything stored."""

    api: Api
    dynamodb: Any
    table: str
    test_id: str

    def snapshot(self) -> dict[str, Any]:
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True)
        items = [item for page in pages for item in page["Items"]]
        return {
            "test": self.api.get(f"/v1/tests/{self.test_id}").body,
            "events": self.api.get(f"/v1/tests/{self.test_id}/events").body,
            "tests": self.api.get("/v1/tests").body,
            "table": sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"])),
        }

    def refuse(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> ApiResponse:
        """Send a bad request; assert a 4xx in the error shape and that the stored state did not change."""
        before = self.snapshot()
        response = self.api.call(method, path.format(test=self.test_id), body, raw)
        assert 400 <= response.status < 500, (response.status, response.body)
        assert set(response.body) == {"error"}
        assert set(response.body["error"]) == {"code", "message", "details"}
        assert self.snapshot() == before
        return response


@pytest.fixture
def pond(api: Api, dynamodb: Any, settings: Settings) -> Pond:
    test = api.post("/v1/tests", new_test_body())
    assert test.status == 201
    return Pond(api, dynamodb, settings.table_name, test.body["id"])


def message(response: ApiResponse) -> str:
    return str(response.body["error"]["message"])


def problem_paths(response: ApiResponse) -> list[str]:
    return [p["path"] for p in response.body["error"]["details"]["problems"]]


def without(field: str) -> dict[str, Any]:
    body = new_test_body()
    del body[field]
    return body


def action(**changes: Any) -> dict[str, Any]:
    """MINIMAL_BEHAVIOR with its one action, renamed ``a``, changed as given."""
    return {**MINIMAL_BEHAVIOR, "actions": {"a": {**MINIMAL_BEHAVIOR["actions"]["auth_test"], **changes}}}


# --- body parsing --------------------------------------------------------------------------------

JSON_ROUTES = [
    ("POST", "/v1/tests"),
    ("PATCH", "/v1/tests/{test}"),
    ("POST", "/v1/tests/{test}/stop"),
    ("POST", "/v1/emergency-stop"),
    ("POST", "/v1/schools/s1/poll"),
    ("PUT", "/v1/behaviors/average_user"),
    ("POST", "/v1/keys"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_malformed_json_is_400_malformed_json_on_every_route(pond: Pond, method: str, path: str) -> None:
    response = pond.refuse(method, path, raw=b"{not json")
    assert (response.status, response.error_code) == (400, "malformed_json")
    assert "not valid JSON" in message(response)


@pytest.mark.parametrize("raw", [b'{"koi": 5,}', b'{"koi": 5', b"{'koi': 5}"], ids=["trailing-comma", "cut", "quotes"])
def test_almost_json_is_400_malformed_json(pond: Pond, raw: bytes) -> None:
    response = pond.refuse("POST", "/v1/tests", raw=raw)
    assert (response.status, response.error_code) == (400, "malformed_json")


def test_body_that_is_not_utf8_is_400_malformed_json(pond: Pond) -> None:
    response = pond.refuse("PATCH", "/v1/tests/{test}", raw=b"\xff\xfe{")
    assert (response.status, response.error_code) == (400, "malformed_json")
    assert "UTF-8" in message(response)


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream"])
def test_body_sent_as_another_content_type_is_415(pond: Pond, content_type: str) -> None:
    from lambdas.keeper_api.handler import lambda_handler

    before = pond.snapshot()
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": content_type}
    event = build_event("PATCH", f"/v1/tests/{pond.test_id}", headers, b'{"koi": 5}', "127.0.0.1")
    result = lambda_handler(event, LocalLambdaContext("test"))
    assert result["statusCode"] == 415
    error = json.loads(result["body"])["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert pond.snapshot() == before


@pytest.mark.parametrize("raw", [b"[]", b'"nightly"', b"null", b""], ids=["array", "string", "null", "empty"])
def test_create_body_that_is_not_an_object_is_422(pond: Pond, raw: bytes) -> None:
    response = pond.refuse("POST", "/v1/tests", raw=raw)
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == ["body"]


# --- creating a test -----------------------------------------------------------------------------

INVALID_CREATES = {
    "unknown-top-level-field": (new_test_body(colour="red"), "colour"),
    "unknown-nested-field": (new_test_body(behavior={"name": "average_user", "colour": "red"}), "colour"),
    "koi-negative": (new_test_body(koi=-1), "koi"),
    "koi-zero": (new_test_body(koi=0), "koi"),
    "koi-above-ten-million": (new_test_body(koi=10_000_001), "koi"),
    "koi-absurd": (new_test_body(koi=10**30), "koi"),
    "koi-string": (new_test_body(koi="lots"), "koi"),
    "koi-float": (new_test_body(koi=1.5), "koi"),
    "koi-null": (new_test_body(koi=None), "koi"),
    "koi-bool": (new_test_body(koi=True), "koi"),
    "koi-numeric-string": (new_test_body(koi="5"), "koi"),
    "koi-whole-float": (new_test_body(koi=2.0), "koi"),
    "shed-negative": (new_test_body(shed_percent=-1), "shed_percent"),
    "shed-above-100": (new_test_body(shed_percent=101), "shed_percent"),
    "shed-string": (new_test_body(shed_percent="abc"), "shed_percent"),
    "missing-name": (without("name"), "name"),
    "missing-target": (without("target"), "target"),
    "missing-behavior": (without("behavior"), "behavior"),
    "missing-workspace": (without("workspace"), "workspace"),
    "missing-koi": (without("koi"), "koi"),
    "target-not-a-url": (new_test_body(target="not a url"), "target"),
    "target-not-http": (new_test_body(target="ftp://example.com"), "target"),
    "target-without-host": (new_test_body(target="http://"), "target"),
    "duration-too-short": (new_test_body(duration_seconds=1), "duration_seconds"),
    "too-many-tags": (new_test_body(tags=["t"] * 21), "tags"),
    "name-empty": (new_test_body(name=""), "name"),
}


@pytest.mark.parametrize(("body", "field"), INVALID_CREATES.values(), ids=INVALID_CREATES.keys())
def test_invalid_create_is_422_naming_the_field(pond: Pond, body: dict[str, Any], field: str) -> None:
    response = pond.refuse("POST", "/v1/tests", body)
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert field in message(response)
    assert any(field in path for path in problem_paths(response))


@pytest.mark.parametrize(
    ("behavior", "named"),
    [("ghost", "'ghost'"), ({"name": "average_user", "version": 7}, "'average_user' version 7")],
    ids=["unknown-name", "unknown-version"],
)
def test_create_with_unknown_behavior_is_400_naming_it(pond: Pond, behavior: Any, named: str) -> None:
    response = pond.refuse("POST", "/v1/tests", new_test_body(behavior=behavior))
    assert (response.status, response.error_code) == (400, "bad_request")
    assert named in message(response)
    assert "PUT /v1/behaviors/" in message(response)


# --- ids in the path -----------------------------------------------------------------------------

TEST_ROUTES = [
    ("GET", "/v1/tests/{id}", None),
    ("PATCH", "/v1/tests/{id}", {"koi": 10}),
    ("POST", "/v1/tests/{id}/stop", None),
    ("POST", "/v1/tests/{id}/resume", None),
    ("GET", "/v1/tests/{id}/events", None),
]
TEST_ROUTE_IDS = ["show", "patch", "stop", "resume", "events"]


@pytest.mark.parametrize(("method", "path", "body"), TEST_ROUTES, ids=TEST_ROUTE_IDS)
def test_unknown_test_id_is_404_naming_it(pond: Pond, method: str, path: str, body: Any) -> None:
    response = pond.refuse(method, path.replace("{id}", UNKNOWN_TEST_ID), body)
    assert (response.status, response.error_code) == (404, "not_found")
    assert UNKNOWN_TEST_ID in message(response)


@pytest.mark.parametrize(("method", "path", "body"), TEST_ROUTES, ids=TEST_ROUTE_IDS)
@pytest.mark.parametrize("bad_id", ["LT_UPPER", "-leading-dash", "a" * 65], ids=["upper", "dash", "long"])
def test_malformed_test_id_is_422_naming_the_path_parameter(
    pond: Pond, method: str, path: str, body: Any, bad_id: str
) -> None:
    response = pond.refuse(method, path.replace("{id}", bad_id), body)
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == ["path:test_id"]


# --- changing a test -----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"reason": "just because"}], ids=["empty", "reason-only"])
def test_patch_without_koi_or_shed_is_400(pond: Pond, body: dict[str, Any]) -> None:
    response = pond.refuse("PATCH", "/v1/tests/{test}", body)
    assert (response.status, response.error_code) == (400, "bad_request")
    assert "koi" in message(response)
    assert "shed_percent" in message(response)


INVALID_PATCHES = {
    "koi-negative": ({"koi": -1}, "koi"),
    "koi-above-ten-million": ({"koi": 10_000_001}, "koi"),
    "koi-string": ({"koi": "lots"}, "koi"),
    "shed-negative": ({"shed_percent": -1}, "shed_percent"),
    "shed-above-100": ({"shed_percent": 101}, "shed_percent"),
    "shed-string": ({"shed_percent": "abc"}, "shed_percent"),
    "unknown-field": ({"koi": 10, "kio": 10}, "kio"),
    "version-zero": ({"koi": 10, "version": 0}, "version"),
}


@pytest.mark.parametrize(("body", "field"), INVALID_PATCHES.values(), ids=INVALID_PATCHES.keys())
def test_invalid_patch_is_422_naming_the_field(pond: Pond, body: dict[str, Any], field: str) -> None:
    response = pond.refuse("PATCH", "/v1/tests/{test}", body)
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == [field]


@pytest.mark.parametrize("body", [{"koi": 10}, {"shed_percent": 50}], ids=["scale", "shed"])
def test_patch_of_stopped_test_is_409_saying_it_is_stopped(pond: Pond, body: dict[str, Any]) -> None:
    assert pond.api.post(f"/v1/tests/{pond.test_id}/stop").status == 200
    response = pond.refuse("PATCH", "/v1/tests/{test}", body)
    assert (response.status, response.error_code) == (409, "conflict")
    assert "stopped" in message(response)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/v1/tests/{test}", {"koi": 10, "version": 7}),
        ("POST", "/v1/tests/{test}/stop", {"reason": "done", "version": 7}),
    ],
    ids=["patch", "stop"],
)
def test_stale_version_is_409_stale_version(pond: Pond, method: str, path: str, body: dict[str, Any]) -> None:
    response = pond.refuse(method, path, body)
    assert (response.status, response.error_code) == (409, "stale_version")
    assert "version 1, not 7" in message(response)
    assert response.body["error"]["details"] == {"test_id": pond.test_id, "version": 1, "expected_version": 7}


def test_resume_of_running_test_is_409_saying_it_is_running(pond: Pond) -> None:
    response = pond.refuse("POST", "/v1/tests/{test}/resume")
    assert (response.status, response.error_code) == (409, "conflict")
    assert "running" in message(response)


# --- routes, emergency stop, polls ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nope"), ("DELETE", "/v1/tests"), ("GET", "/v2/tests"), ("PUT", "/v1/tests/{test}")],
)
def test_unknown_route_is_404_json_naming_it(pond: Pond, method: str, path: str) -> None:
    response = pond.refuse(method, path)
    assert (response.status, response.error_code) == (404, "route_not_found")
    assert f"{method} {path.format(test=pond.test_id)}" in message(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "reason"), ({"reason": ""}, "reason"), (None, "body"), ({"reason": "x", "force": True}, "force")],
    ids=["no-reason", "empty-reason", "no-body", "unknown-field"],
)
def test_emergency_stop_without_a_reason_is_422(pond: Pond, body: Any, field: str) -> None:
    response = pond.refuse("POST", "/v1/emergency-stop", body)
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == [field]
    assert pond.api.get("/v1/emergency-stop").body["active"] is False


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/schools/s1/poll", {"capacity": -1}, "capacity"),
        ("/v1/schools/s1/poll", {"capacity": 1_000_001}, "capacity"),
        ("/v1/schools/s1/poll", {"capacity": 10, "runing": {}}, "runing"),
        ("/v1/schools/School_1/poll", {"capacity": 10}, "path:school_id"),
        ("/v1/schools/s1/poll", {"capacity": 10, "running": {"lt-x": -1}}, "running.lt-x"),
        ("/v1/schools/s1/poll", {"capacity": True}, "capacity"),
    ],
    ids=["negative-capacity", "absurd-capacity", "unknown-field", "bad-school-id", "negative-running", "bool-capacity"],
)
def test_invalid_poll_is_422_and_records_no_school(pond: Pond, path: str, body: Any, field: str) -> None:
    response = pond.refuse("POST", path, body)
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == [field]
    assert pond.api.get("/v1/schools").body["schools"] == []


# --- behaviors -----------------------------------------------------------------------------------

UNKNOWN_STEP_ACTION = {
    **MINIMAL_BEHAVIOR,
    "formations": {"f": {"start": {"every": "1h"}, "steps": [{"name": "s", "action": "nope", "within_seconds": 1}]}},
}
INVALID_BEHAVIORS = {
    "unknown-action-field": (action(colour="red"), "actions.a.colour", "Extra inputs"),
    "negative-rate": (action(rate_per_hour=-1), "actions.a.rate_per_hour", "greater than or equal to 0"),
    "unknown-template-variable": (action(path="/api/{user.nmae}"), "actions.a.path", "'user.nmae'"),
    "unknown-step-action": (UNKNOWN_STEP_ACTION, "formations.f.steps[0].action", "unknown action 'nope'"),
    "no-actions": ({"description": "idle", "actions": {}}, "actions", "at least 1"),
}


@pytest.mark.parametrize(("document", "path", "problem"), INVALID_BEHAVIORS.values(), ids=INVALID_BEHAVIORS.keys())
def test_invalid_behavior_upload_is_422_listing_path_and_problem(
    pond: Pond, document: dict[str, Any], path: str, problem: str
) -> None:
    response = pond.refuse("PUT", "/v1/behaviors/average_user", document)
    assert (response.status, response.error_code) == (422, "validation_failed")
    problems = response.body["error"]["details"]["problems"]
    assert [p["path"] for p in problems] == [path]
    assert problem in problems[0]["problem"]
    assert path in message(response)
    assert pond.api.get("/v1/behaviors/average_user").body["version"] == 1


@pytest.mark.parametrize("name", ["Upper", "-dash", "with.dot", "b" * 64])
def test_invalid_behavior_name_is_422_naming_the_path_parameter(pond: Pond, name: str) -> None:
    response = pond.refuse("PUT", f"/v1/behaviors/{name}", MINIMAL_BEHAVIOR)
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == ["path:name"]


@pytest.mark.parametrize(
    ("path", "named"),
    [("/v1/behaviors/ghost", "'ghost'"), ("/v1/behaviors/average_user?version=9", "'average_user' version 9")],
    ids=["unknown-name", "unknown-version"],
)
def test_unknown_behavior_is_404_naming_it(pond: Pond, path: str, named: str) -> None:
    response = pond.refuse("GET", path)
    assert (response.status, response.error_code) == (404, "not_found")
    assert named in message(response)


@pytest.mark.parametrize("version", ["0", "-1", "latest"])
def test_invalid_behavior_version_query_is_422(pond: Pond, version: str) -> None:
    response = pond.refuse("GET", f"/v1/behaviors/average_user?version={version}")
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == ["query:version"]


# --- anything at all -----------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
FIELD_NAMES = st.sampled_from(["name", "target", "behavior", "workspace", "koi", "shed_percent", "tags", "x"])
CREATE_ATTEMPTS = st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=6).map(lambda d: {**new_test_body(), **d})
PATCH_ATTEMPTS = st.dictionaries(st.sampled_from(["koi", "shed_percent", "reason", "version", "y"]), JSON_VALUES)
ANY_SETTINGS = hypothesis_settings(max_examples=60, deadline=None)


def never_fails_server_side(response: ApiResponse) -> None:
    assert response.status < 500, response.body
    if response.status >= 400:
        assert set(response.body["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(
    ("send", "attempts"),
    [
        (lambda pond, body: pond.api.post("/v1/tests", body), CREATE_ATTEMPTS),
        (lambda pond, body: pond.api.patch(f"/v1/tests/{pond.test_id}", body), PATCH_ATTEMPTS),
    ],
    ids=["create", "patch"],
)
def test_arbitrary_json_never_causes_a_server_error(
    pond: Pond, send: Callable[[Pond, Any], ApiResponse], attempts: st.SearchStrategy[Any]
) -> None:
    @ANY_SETTINGS
    @given(body=attempts)
    def check(body: Any) -> None:
        never_fails_server_side(send(pond, body))

    check()
