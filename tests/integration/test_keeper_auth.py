"""Keeper API authentication and roles: bearer tokens, what each role may do, and how keys are kept."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper
from koipond.services.auth import bootstrap_key_id, bootstrap_secret_hash, hash_secret
from koipond.settings import Settings
from local_pond.lambda_http import LocalLambdaContext, build_event
from tests.conftest import ADMIN_TOKEN, MINIMAL_BEHAVIOR, Api, ApiResponse, issue_token, new_test_body

ROLES = ("viewer", "operator", "admin", "school")


def table_items(dynamodb: Any, settings: Settings) -> list[dict[str, Any]]:
    pages = dynamodb.get_paginator("scan").paginate(TableName=settings.table_name, ConsistentRead=True)
    return sorted((item for page in pages for item in page["Items"]), key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def call_with_authorization(authorization: str | None, method: str = "GET", path: str = "/v1/tests") -> ApiResponse:
    """Call the handler with exactly this Authorization header (or none)."""
    from lambdas.keeper_api.handler import lambda_handler

    headers = {"content-type": "application/json", "host": "keeper.test"}
    if authorization is not None:
        headers["authorization"] = authorization
    result = lambda_handler(build_event(method, path, headers, b"", "127.0.0.1"), LocalLambdaContext("test"))
    return ApiResponse(result["statusCode"], json.loads(result["body"]), result.get("headers") or {})


def assert_unauthenticated(response: ApiResponse, says: str) -> None:
    assert (response.status, response.error_code) == (401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="koipond"'
    assert says in response.body["error"]["message"]


# --- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, ""], ids=["absent", "empty"])
def test_missing_authorization_header_is_401_with_www_authenticate(api: Api, header: str | None) -> None:
    assert_unauthenticated(call_with_authorization(header), "missing Authorization header")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", f"Token {ADMIN_TOKEN}"])
def test_malformed_authorization_header_is_401(api: Api, header: str) -> None:
    assert_unauthenticated(call_with_authorization(header), "malformed Authorization header")


def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    assert call_with_authorization(f"bearer {ADMIN_TOKEN}").status == 200


@pytest.mark.parametrize(
    "token", ["not-the-admin-token", "kp_key-0000000000_deadbeef", f"{ADMIN_TOKEN}x", f"{ADMIN_TOKEN} extra"]
)
def test_unknown_token_is_401(api: Api, token: str) -> None:
    assert_unauthenticated(api.as_(token).get("/v1/tests"), "unknown API token")


def test_issued_key_with_wrong_secret_is_401(api: Api) -> None:
    token = issue_token(api, "admin")
    key_id = token.split("_")[1]
    assert_unauthenticated(api.as_(f"kp_{key_id}_{'0' * 48}").get("/v1/tests"), "unknown API token")


def test_revoked_token_is_401_saying_it_was_revoked(api: Api) -> None:
    token = issue_token(api, "operator")
    key_id = token.split("_")[1]
    assert api.as_(token).get("/v1/tests").status == 200
    assert api.delete(f"/v1/keys/{key_id}").status == 200
    assert_unauthenticated(api.as_(token).get("/v1/tests"), "revoked")


def test_unauthenticated_start_starts_nothing(api: Api, dynamodb: Any, settings: Settings) -> None:
    before = table_items(dynamodb, settings)
    assert_unauthenticated(api.as_(None).post("/v1/tests", new_test_body()), "missing Authorization header")
    assert table_items(dynamodb, settings) == before


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json"])
@pytest.mark.parametrize("token", [None, "garbage"], ids=["no-token", "bad-token"])
def test_health_and_openapi_need_no_token(api: Api, path: str, token: str | None) -> None:
    assert api.as_(token).get(path).status == 200


# --- what each role may do -----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: Any
    success: int
    needs: str


ROUTES = {
    "list-tests": Route("GET", "/v1/tests", None, 200, "viewer"),
    "show-test": Route("GET", "/v1/tests/{test}", None, 200, "viewer"),
    "test-events": Route("GET", "/v1/tests/{test}/events", None, 200, "viewer"),
    "list-schools": Route("GET", "/v1/schools", None, 200, "viewer"),
    "estop-status": Route("GET", "/v1/emergency-stop", None, 200, "viewer"),
    "pull-estop": Route("POST", "/v1/emergency-stop", {"reason": "drill"}, 200, "viewer"),
    "read-behavior": Route("GET", "/v1/behaviors/average_user", None, 200, "viewer"),
    "list-behaviors": Route("GET", "/v1/behaviors", None, 200, "viewer"),
    "whoami": Route("GET", "/v1/whoami", None, 200, "viewer"),
    "start-test": Route("POST", "/v1/tests", new_test_body(), 201, "operator"),
    "scale-test": Route("PATCH", "/v1/tests/{test}", {"koi": 10}, 200, "operator"),
    "shed-test": Route("PATCH", "/v1/tests/{test}", {"shed_percent": 50}, 200, "operator"),
    "stop-test": Route("POST", "/v1/tests/{test}/stop", {"reason": "done"}, 200, "operator"),
    "lift-estop": Route("DELETE", "/v1/emergency-stop", {"reason": "clear"}, 200, "operator"),
    "upload-behavior": Route("PUT", "/v1/behaviors/other", MINIMAL_BEHAVIOR, 201, "operator"),
    "create-key": Route("POST", "/v1/keys", {"name": "ci", "role": "viewer"}, 201, "admin"),
    "list-keys": Route("GET", "/v1/keys", None, 200, "admin"),
    "revoke-key": Route("DELETE", "/v1/keys/{key}", None, 200, "admin"),
    "poll": Route("POST", "/v1/schools/s1/poll", {"capacity": 100}, 200, "school"),
}
ALLOWED = {
    "viewer": {name for name, route in ROUTES.items() if route.needs == "viewer"},
    "operator": {name for name, route in ROUTES.items() if route.needs in ("viewer", "operator")},
    "admin": set(ROUTES),
    "school": {"poll", "read-behavior", "whoami"},  # Schools fetch the behaviors they run
}
CASES = [(role, name) for role in ROLES for name in ROUTES]


@dataclass
class Caller:
    api: Api
    test_id: str
    key_id: str

    def call(self, route: Route) -> ApiResponse:
        path = route.path.format(test=self.test_id, key=self.key_id)
        return self.api.call(route.method, path, route.body)


def caller_with_role(api: Api, role: str) -> Caller:
    """A caller of ``role``, with a running test and a spare key to act on."""
    test_id = api.post("/v1/tests", new_test_body()).body["id"]
    key_id = issue_token(api, "viewer", "spare").split("_")[1]
    return Caller(api.as_(issue_token(api, role, f"{role} key")), test_id, key_id)


@pytest.mark.parametrize(("role", "route"), [c for c in CASES if c[1] in ALLOWED[c[0]]])
def test_role_may_call_the_routes_it_is_allowed(api: Api, role: str, route: str) -> None:
    response = caller_with_role(api, role).call(ROUTES[route])
    assert response.status == ROUTES[route].success, response.body


@pytest.mark.parametrize(("role", "route"), [c for c in CASES if c[1] not in ALLOWED[c[0]]])
def test_role_is_403_on_routes_it_is_not_allowed_and_nothing_changes(
    api: Api, dynamodb: Any, settings: Settings, role: str, route: str
) -> None:
    caller = caller_with_role(api, role)
    before = table_items(dynamodb, settings)
    response = caller.call(ROUTES[route])
    assert (response.status, response.error_code) == (403, "forbidden")
    assert response.body["error"]["details"] == {"needed": ROUTES[route].needs, "held": role}
    assert f"needs the {ROUTES[route].needs} role" in response.body["error"]["message"]
    assert table_items(dynamodb, settings) == before


def test_viewer_can_pull_the_emergency_stop_but_not_lift_it(api: Api) -> None:
    viewer = api.as_(issue_token(api, "viewer", "vera"))
    pulled = viewer.post("/v1/emergency-stop", {"reason": "error rate climbing"})
    assert (pulled.status, pulled.body["active"], pulled.body["activated_by"]) == (200, True, "vera")
    assert viewer.delete("/v1/emergency-stop", {"reason": "looks fine"}).status == 403
    assert api.get("/v1/emergency-stop").body["active"] is True
    assert api.as_(issue_token(api, "operator")).delete("/v1/emergency-stop").body["active"] is False


@pytest.mark.parametrize("role", ROLES)
def test_whoami_names_the_key_and_its_role(api: Api, role: str) -> None:
    token = issue_token(api, role, f"{role} of the pond")
    answer = api.as_(token).get("/v1/whoami")
    assert answer.status == 200
    assert answer.body == {"key_id": token.split("_")[1], "name": f"{role} of the pond", "role": role}
    assert api.as_("kp_nobody_wrong").get("/v1/whoami").status == 401


def test_school_key_can_poll_but_not_read_tests_or_pull_the_emergency_stop(api: Api) -> None:
    school = api.as_(issue_token(api, "school"))
    assert school.post("/v1/schools/s1/poll", {"capacity": 100}).status == 200
    assert school.get("/v1/tests").status == 403
    assert school.post("/v1/emergency-stop", {"reason": "curious"}).status == 403
    assert api.get("/v1/emergency-stop").body["active"] is False


# --- how keys are kept ---------------------------------------------------------------------------


def test_listing_keys_never_returns_a_token_or_its_hash(api: Api) -> None:
    tokens = [issue_token(api, role) for role in ROLES]
    listed = api.get("/v1/keys")
    text = json.dumps(listed.body)
    assert all(token not in text and token.split("_")[2] not in text for token in tokens)
    assert ADMIN_TOKEN not in text
    assert all(set(key).isdisjoint({"token", "secret", "secret_hash"}) for key in listed.body["keys"])


def test_tokens_are_stored_only_as_hashes(api: Api, dynamodb: Any, settings: Settings) -> None:
    tokens = [issue_token(api, role) for role in ROLES]
    stored = json.dumps(table_items(dynamodb, settings))
    for token in tokens:
        secret = token.split("_")[2]
        assert secret not in stored
        assert token not in stored
        assert hash_secret(secret) in stored
    assert ADMIN_TOKEN not in stored
    assert hash_secret(ADMIN_TOKEN) not in stored  # a fast hash of a token a person may have chosen
    assert bootstrap_secret_hash(ADMIN_TOKEN) in stored


def test_issued_token_is_shown_once_in_the_documented_format(api: Api) -> None:
    issued = api.post("/v1/keys", {"name": "ci", "role": "operator"}).body
    assert issued["token"].startswith(f"kp_{issued['id']}_")
    assert api.as_(issued["token"]).get("/v1/tests").status == 200


# --- the bootstrap admin -------------------------------------------------------------------------


def test_bootstrap_admin_token_is_an_admin_key(api: Api) -> None:
    keys = api.get("/v1/keys").body["keys"]
    bootstrap = next(key for key in keys if key["id"] == bootstrap_key_id(ADMIN_TOKEN))
    assert (bootstrap["role"], bootstrap["revoked_at"]) == ("admin", None)


def test_revoked_bootstrap_admin_stays_revoked_when_ensured_again(
    api: Api, keeper: Keeper, settings: Settings, dynamodb: Any, clock: FixedClock
) -> None:
    other_admin = api.as_(issue_token(api, "admin", "alice"))
    assert other_admin.delete(f"/v1/keys/{bootstrap_key_id(ADMIN_TOKEN)}").status == 200
    assert_unauthenticated(api.get("/v1/tests"), "revoked")
    keeper.auth.ensure_bootstrap_admin(ADMIN_TOKEN)
    build_keeper(settings, dynamodb, clock)  # a cold start ensures it too
    assert_unauthenticated(api.get("/v1/tests"), "revoked")
    assert other_admin.get("/v1/tests").status == 200


def test_new_bootstrap_token_makes_a_new_working_admin_key(api: Api, keeper: Keeper) -> None:
    keeper.auth.ensure_bootstrap_admin("rotated-admin-token")
    assert api.as_("rotated-admin-token").get("/v1/keys").status == 200
    assert api.get("/v1/keys").status == 200
