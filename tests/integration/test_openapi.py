"""The Keeper's OpenAPI document: version, the routes of the public contract, security, strict requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from tests.conftest import Api

# The routes of DESIGN.md's public contract that the Keeper serves (plus resume and the behavior list).
CONTRACT_OPERATIONS = [
    ("get", "/v1/tests"),
    ("post", "/v1/tests"),
    ("get", "/v1/tests/{test_id}"),
    ("patch", "/v1/tests/{test_id}"),
    ("post", "/v1/tests/{test_id}/stop"),
    ("post", "/v1/tests/{test_id}/resume"),
    ("get", "/v1/tests/{test_id}/events"),
    ("post", "/v1/schools/{school_id}/poll"),
    ("get", "/v1/schools"),
    ("get", "/v1/emergency-stop"),
    ("post", "/v1/emergency-stop"),
    ("delete", "/v1/emergency-stop"),
    ("put", "/v1/behaviors/{name}"),
    ("get", "/v1/behaviors/{name}"),
    ("get", "/v1/behaviors"),
    ("get", "/v1/behaviors/{name}/versions"),
    ("get", "/v1/behaviors/{name}/diff"),
    ("post", "/v1/keys"),
    ("get", "/v1/keys"),
    ("delete", "/v1/keys/{key_id}"),
    ("get", "/v1/whoami"),
    ("get", "/healthz"),
]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # The document is served without a token and without touching the store; mock AWS all the same.
    with mock_aws():
        response = Api(token=None).get("/openapi.json")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    return dict(response.body)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return resolve(document, node)


def object_schemas(document: dict[str, Any], schema: Any, seen: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema with ``properties`` reachable from ``schema`` (each named component once)."""
    if isinstance(schema, list):
        for item in schema:
            yield from object_schemas(document, item, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if ref is not None:
        if ref not in seen:
            seen.add(ref)
            yield from object_schemas(document, resolve(document, schema), seen)
        return
    if "properties" in schema:
        yield str(schema.get("title", "?")), schema
    for value in schema.values():
        yield from object_schemas(document, value, seen)


def request_schemas(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for method, path, operation in operations(document):
        body = operation.get("requestBody")
        if body is not None:
            yield method, path, body["content"]["application/json"]["schema"]


def test_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] == "koipond Keeper API"


@pytest.mark.parametrize(("method", "path"), CONTRACT_OPERATIONS)
def test_document_lists_contract_route(document: dict[str, Any], method: str, path: str) -> None:
    assert method in document["paths"].get(path, {}), f"{method.upper()} {path} missing"


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))


def test_document_declares_bearer_security_for_the_whole_api(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    bearer = [name for name, scheme in schemes.items() if (scheme["type"], scheme.get("scheme")) == ("http", "bearer")]
    assert bearer
    assert {name for requirement in document["security"] for name in requirement} <= set(bearer)
    assert document["security"]


def test_every_v1_operation_requires_the_bearer_token(document: dict[str, Any]) -> None:
    unsecured = [
        f"{method.upper()} {path}"
        for method, path, operation in operations(document)
        if path.startswith("/v1/") and {} in operation.get("security", document["security"])
    ]
    assert unsecured == []


def test_healthz_is_documented_as_needing_no_token(document: dict[str, Any]) -> None:
    assert {} in document["paths"]["/healthz"]["get"]["security"]


def test_create_test_request_forbids_additional_properties(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["CreateTestRequest"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "target", "behavior", "workspace", "koi"}
    assert (schema["properties"]["koi"]["minimum"], schema["properties"]["koi"]["maximum"]) == (1, 10_000_000)


def test_every_request_body_object_forbids_additional_properties(document: dict[str, Any]) -> None:
    objects = [
        (f"{method.upper()} {path}: {title}", node)
        for method, path, schema in request_schemas(document)
        for title, node in object_schemas(document, schema, set())
    ]
    assert {"CreateTestRequest", "BehaviorRefIn", "Action", "FormationStep"} <= {n.split(": ")[1] for n, _ in objects}
    assert [name for name, node in objects if node.get("additionalProperties") is not False] == []


def test_every_request_body_is_documented_as_json(document: dict[str, Any]) -> None:
    bodies = {f"{method.upper()} {path}" for method, path, _ in request_schemas(document)}
    assert {"POST /v1/tests", "PATCH /v1/tests/{test_id}", "PUT /v1/behaviors/{name}", "POST /v1/keys"} <= bodies


def test_path_parameters_document_their_pattern(document: dict[str, Any]) -> None:
    unpatterned = [
        f"{method.upper()} {path}: {parameter['name']}"
        for method, path, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and "pattern" not in parameter["schema"]
    ]
    assert unpatterned == []
