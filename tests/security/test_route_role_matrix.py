"""Every route of the OpenAPI document, called by every kind of caller (issue 14).

No token, a bad one or a revoked one is 401 before anything about the request is validated; a role
below the route's is 403; nothing a caller sends is a 5xx; every status that comes back is documented.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from koipond.models.auth import Role, role_allows
from local_pond.lambda_http import LocalLambdaContext, build_event
from tests.conftest import MINIMAL_BEHAVIOR, Api, ApiResponse, issue_token, new_test_body

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
# The role each route needs, written out so that this table is the specification. "any" is every
# valid key, people's and Schools'.
NEEDS: dict[tuple[str, str], str] = {
    ("get", "/v1/tests"): "viewer",
    ("post", "/v1/tests"): "operator",
    ("get", "/v1/tests/{test_id}"): "viewer",
    ("patch", "/v1/tests/{test_id}"): "operator",
    ("post", "/v1/tests/{test_id}/stop"): "operator",
    ("post", "/v1/tests/{test_id}/resume"): "operator",
    ("get", "/v1/tests/{test_id}/events"): "viewer",
    ("post", "/v1/schools/{school_id}/poll"): "school",
    ("post", "/v1/schools/{school_id}/test-specs"): "school",
    ("get", "/v1/schools"): "viewer",
    ("get", "/v1/emergency-stop"): "viewer",
    ("post", "/v1/emergency-stop"): "viewer",
    ("delete", "/v1/emergency-stop"): "operator",
    ("get", "/v1/behaviors"): "viewer",
    ("get", "/v1/behaviors/{name}"): "any",
    ("put", "/v1/behaviors/{name}"): "operator",
    ("get", "/v1/behaviors/{name}/versions"): "viewer",
    ("get", "/v1/behaviors/{name}/diff"): "viewer",
    ("put", "/v1/behaviors/{name}/source"): "operator",
    ("get", "/v1/behaviors/{name}/source"): "viewer",
    ("delete", "/v1/behaviors/{name}/source"): "operator",
    ("get", "/v1/behavior-sources"): "viewer",
    ("get", "/v1/whoami"): "any",
    ("get", "/v1/keys"): "admin",
    ("post", "/v1/keys"): "admin",
    ("delete", "/v1/keys/{key_id}"): "admin",
    ("get", "/v1/guard"): "viewer",
    ("put", "/v1/guard/queries/{label}"): "operator",
    ("delete", "/v1/guard/queries/{label}"): "operator",
    ("get", "/v1/token-jobs"): "viewer",
    ("post", "/v1/token-jobs"): "operator",
    ("get", "/v1/token-jobs/dlq"): "viewer",
    ("post", "/v1/token-jobs/dlq/redrive"): "operator",
    ("get", "/v1/token-jobs/{job_id}"): "viewer",
    ("get", "/v1/metrics/{series}"): "viewer",
    ("get", "/v1/notifications"): "viewer",
    ("get", "/v1/deploys/slis"): "viewer",
    ("get", "/v1/deploys/slis/{service}"): "viewer",
    ("put", "/v1/deploys/slis/{service}"): "operator",
    ("delete", "/v1/deploys/slis/{service}"): "operator",
    ("get", "/v1/deploys"): "viewer",
    ("post", "/v1/deploys"): "operator",
    ("get", "/v1/deploys/{deploy_id}"): "viewer",
    ("get", "/v1/deploys/{deploy_id}/events"): "viewer",
    ("get", "/v1/rollouts"): "viewer",
    ("post", "/v1/rollouts"): "operator",
    ("get", "/v1/rollouts/{rollout_id}"): "viewer",
    ("post", "/v1/rollouts/{rollout_id}/advance"): "operator",
    ("post", "/v1/rollouts/{rollout_id}/pause"): "operator",
    ("post", "/v1/rollouts/{rollout_id}/resume"): "operator",
    ("post", "/v1/rollouts/{rollout_id}/abort"): "operator",
    ("get", "/v1/vocabulary"): "viewer",
}
PUBLIC = {("get", "/healthz")}
# Valid, pattern-matching values (mostly of things that do not exist: 404 once the role allows).
PATH_VALUES = {
    "test_id": "lt-0000000000",
    "school_id": "s1",
    "name": "average_user",
    "key_id": "key-0000000000",
    "label": "p99",
    "job_id": "tj-0000000000",
    "series": "koi",
    "service": "chat-api",
    "deploy_id": "dp-0123456789abcdef",
    "rollout_id": "ro-0000000000",
}
QUERY_VALUES = {"service": "chat-api", "from": "1"}
GUARD_QUERY = {"label": "p99", "query": "up", "threshold": 1.0, "comparator": "GreaterThan"}
# A schema-valid body for each route that takes one: only valid requests reach a route's role check.
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/tests"): new_test_body(),
    ("patch", "/v1/tests/{test_id}"): {"koi": 10},
    ("post", "/v1/tests/{test_id}/stop"): {"reason": "matrix"},
    ("post", "/v1/tests/{test_id}/resume"): {"reason": "matrix"},
    ("post", "/v1/schools/{school_id}/poll"): {"capacity": 0},
    ("post", "/v1/schools/{school_id}/test-specs"): {"test_ids": ["lt-0000000000"]},
    ("post", "/v1/emergency-stop"): {"reason": "matrix"},
    ("delete", "/v1/emergency-stop"): {"reason": "matrix"},
    ("put", "/v1/behaviors/{name}"): MINIMAL_BEHAVIOR,
    ("put", "/v1/behaviors/{name}/source"): {"kind": "prometheus", "query": "x", "users": 10},
    ("post", "/v1/keys"): {"name": "matrix", "role": "viewer"},
    ("put", "/v1/guard/queries/{label}"): GUARD_QUERY,
    ("post", "/v1/token-jobs"): {"workspace": "w", "target": "http://127.0.0.1:1", "users": {"start": 0, "end": 10}},
    ("put", "/v1/deploys/slis/{service}"): {"min_calls": 20},
    ("post", "/v1/deploys"): {"service": "chat-api", "build": "v1"},
    ("post", "/v1/rollouts"): {"test_id": "lt-0000000000", "stages": [{"koi": 10, "hold": "1h"}]},
    ("post", "/v1/rollouts/{rollout_id}/advance"): {"reason": "matrix"},
    ("post", "/v1/rollouts/{rollout_id}/pause"): {"reason": "matrix"},
    ("post", "/v1/rollouts/{rollout_id}/resume"): {"reason": "matrix"},
    ("post", "/v1/rollouts/{rollout_id}/abort"): {"reason": "matrix"},
}
# Routes that read a system the in-process pond does not run (Prometheus, the token queues): 503 is
# their documented answer to that, not a failure of the route.
EXTERNAL = {("get", "/v1/metrics/{series}"), ("get", "/v1/token-jobs/dlq"), ("post", "/v1/token-jobs/dlq/redrive")}
# Refused before routing for every route: each is a body or a path that validation would have answered.
UNVALIDATED = [
    ("schema-invalid body", b'{"unexpected": [1, {"deep": true}]}'),
    ("malformed body", b'{"koi": '),
    ("huge number", b'{"koi": ' + b"9" * 5000 + b"}"),
]
ROLE_REFUSALS = {"forbidden", "wrong_school", "school_key_unbound"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    document: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def url(self, **overrides: str) -> str:
        path = self.path
        for name, value in {**PATH_VALUES, **overrides}.items():
            path = path.replace("{" + name + "}", value)
        query = [
            f"{p['name']}={QUERY_VALUES[p['name']]}"
            for p in self.document.get("parameters", [])
            if p["in"] == "query" and p.get("required")
        ]
        return path + ("?" + "&".join(query) if query else "")

    def documented(self) -> set[int]:
        return {int(status) for status in self.document["responses"]}


def load_operations() -> list[Operation]:
    with mock_aws():  # the document needs no store; no client may reach real AWS all the same
        document = Api(token=None).get("/openapi.json").body
    return [
        Operation(method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


OPERATIONS = load_operations()
TOKEN_OPERATIONS = [op for op in OPERATIONS if op.key not in PUBLIC]


def ids(operations: list[Operation]) -> list[str]:
    return [f"{op.method.upper()} {op.path}" for op in operations]


def allowed(role: str, needs: str) -> bool:
    if needs == "any":
        return True
    return role_allows(Role(role), Role(needs))


def problems_of(op: Operation, caller: str, response: ApiResponse) -> list[str]:
    """What is wrong with any answer: a 5xx, a status the document does not list, or no error shape."""
    problems = []
    if response.status >= 500 and not (response.status == 503 and op.key in EXTERNAL):
        problems.append(f"{caller}: {response.status} {response.body}")
    if response.status not in op.documented():
        problems.append(f"{caller}: {response.status} is not documented ({sorted(op.documented())})")
    if response.status >= 400 and set(response.body or {}) != {"error"}:
        problems.append(f"{caller}: {response.status} without the error shape: {response.body}")
    return problems


def test_every_operation_has_a_role_and_every_body_route_a_sample_body() -> None:
    documented = {op.key for op in OPERATIONS}
    assert documented == set(NEEDS) | PUBLIC
    assert {op.key for op in OPERATIONS if "requestBody" in op.document} == set(BODIES)


@pytest.mark.parametrize("op", OPERATIONS, ids=ids(OPERATIONS))
def test_every_operation_documents_its_errors_in_the_error_shape(op: Operation) -> None:
    common = {400, 413, 415, 422} if op.key in PUBLIC else {400, 401, 403, 413, 415, 422, 503}
    assert common <= op.documented()
    for status in op.documented() - {200, 201}:
        schema = op.document["responses"][str(status)]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (status, schema)


@pytest.fixture
def revoked_token(api: Api) -> str:
    token = issue_token(api, "viewer", "gone")
    assert api.delete(f"/v1/keys/{token.split('_')[1]}").status == 200
    return token


@pytest.mark.parametrize("op", TOKEN_OPERATIONS, ids=ids(TOKEN_OPERATIONS))
def test_no_bad_or_revoked_token_is_401_before_any_validation(api: Api, revoked_token: str, op: Operation) -> None:
    callers = {"no token": None, "bad token": "not-a-token", "bad key": f"kp_key-0000000000_{'0' * 48}"}
    callers["revoked"] = revoked_token
    failures = []
    for caller, token in callers.items():
        for what, raw in [*UNVALIDATED, ("valid body", json.dumps(BODIES.get(op.key, {})).encode())]:
            for url in (op.url(), op.url(**dict.fromkeys(PATH_VALUES, "Not_Valid"))):
                response = api.as_(token).call(op.method.upper(), url, raw=raw)
                if (response.status, (response.body or {}).get("error", {}).get("code")) != (401, "unauthenticated"):
                    failures.append(f"{caller}, {what}, {url}: {response.status} {response.body}")
                failures += problems_of(op, caller, response)
    assert failures == []


@pytest.fixture
def callers(api: Api) -> dict[str, tuple[str, Api]]:
    """Each kind of key: (its role, a caller with it); the School keys are bound to s1's fleet or elsewhere."""
    other = api.post("/v1/keys", {"name": "other school", "role": "school", "school_id": "t-elsewhere"})
    return {
        "viewer": ("viewer", api.as_(issue_token(api, "viewer"))),
        "operator": ("operator", api.as_(issue_token(api, "operator"))),
        "admin": ("admin", api.as_(issue_token(api, "admin"))),
        "school": ("school", api.as_(issue_token(api, "school"))),
        "other school": ("school", api.as_(other.body["token"])),
    }


@pytest.mark.parametrize("op", TOKEN_OPERATIONS, ids=ids(TOKEN_OPERATIONS))
def test_each_role_gets_403_below_the_route_and_through_above_it(
    op: Operation, callers: dict[str, tuple[str, Api]]
) -> None:
    failures = []
    for caller, (role, client) in callers.items():
        response = client.call(op.method.upper(), op.url(), BODIES.get(op.key))
        code = (response.body or {}).get("error", {}).get("code") if response.status >= 400 else None
        other_school = caller == "other school" and op.path.startswith("/v1/schools/{school_id}")
        if allowed(role, NEEDS[op.key]) and not other_school:
            if response.status == 401 or code in ROLE_REFUSALS:
                failures.append(f"{caller} may call it: {response.status} {response.body}")
        elif (response.status, code) not in {(403, "forbidden"), (403, "wrong_school")}:
            failures.append(f"{caller} may not call it: {response.status} {response.body}")
        failures += problems_of(op, caller, response)
    assert failures == []


def status_of_call(method: str, path: str, token: str | None) -> int:
    """The status the handler answers (the console's files are not JSON, so not through Api)."""
    from lambdas.keeper_api.handler import lambda_handler

    headers = {"authorization": f"Bearer {token}"} if token else {}
    return int(
        lambda_handler(build_event(method, path, headers, b"", "127.0.0.1"), LocalLambdaContext("t"))["statusCode"]
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/openapi.json"),
        ("GET", "/ui"),
        ("GET", "/ui/"),
        ("HEAD", "/ui/"),
        ("GET", "/ui/app.js"),
    ],
)
@pytest.mark.parametrize("token", [None, "garbage"], ids=["no-token", "bad-token"])
def test_only_health_the_document_and_the_console_need_no_token(
    keeper: Any, method: str, path: str, token: str | None
) -> None:
    assert status_of_call(method, path, token) in {200, 308}


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/nope"), ("HEAD", "/healthz"), ("POST", "/healthz"), ("POST", "/ui/")]
)
def test_no_other_request_gets_past_the_token_even_one_no_route_takes(keeper: Any, method: str, path: str) -> None:
    assert status_of_call(method, path, None) == 401
