"""Field-level bad input (issue 14): sizes, paths, control characters and lengths are 4xx, nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from koipond.composition import Keeper
from koipond.errors import NotFoundError, StoreError
from koipond.models import behavior
from koipond.settings import Settings
from koipond.store.table import DynamoTable, ItemTooLargeError
from lambdas.keeper_api.errors import status_of
from tests.conftest import MINIMAL_BEHAVIOR, Api, ApiResponse, new_test_body

ONE_MB_BEHAVIOR = {
    **MINIMAL_BEHAVIOR,
    "actions": {"a": {**MINIMAL_BEHAVIOR["actions"]["auth_test"], "body": {"text": "x" * 1_000_000}}},
}


class Pond:
    """The API with one running test and one running rollout, and a view of everything stored."""

    def __init__(self, api: Api, dynamodb: Any, table: str) -> None:
        self.api, self._dynamodb, self._table = api, dynamodb, table
        created = api.post("/v1/tests", new_test_body())
        assert created.status == 201, created.body
        self.test_id = created.body["id"]
        rollout = api.post("/v1/rollouts", {"test_id": self.test_id, "stages": [{"koi": 2000, "hold": "1h"}]})
        assert rollout.status == 201, rollout.body
        self.rollout_id = rollout.body["id"]

    def items(self) -> list[dict[str, Any]]:
        pages = self._dynamodb.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True)
        return sorted((item for page in pages for item in page["Items"]), key=lambda i: (i["pk"]["S"], i["sk"]["S"]))

    def refuse(self, method: str, path: str, body: Any) -> ApiResponse:
        """Send a bad request; assert a 4xx in the error shape and that nothing stored changed."""
        before = self.items()
        path = path.format(test=self.test_id, rollout=self.rollout_id)
        response = self.api.call(method, path, body)
        assert 400 <= response.status < 500, (response.status, response.body)
        assert set(response.body["error"]) == {"code", "message", "details"}
        assert self.items() == before
        return response


@pytest.fixture
def pond(api: Api, dynamodb: Any, settings: Settings) -> Pond:
    return Pond(api, dynamodb, settings.table_name)


def problem_paths(response: ApiResponse) -> list[str]:
    return [p["path"] for p in response.body["error"]["details"]["problems"]]


def action(**changes: Any) -> dict[str, Any]:
    return {**MINIMAL_BEHAVIOR, "actions": {"a": {**MINIMAL_BEHAVIOR["actions"]["auth_test"], **changes}}}


# --- behavior size -------------------------------------------------------------------------------


def test_a_one_megabyte_behavior_is_refused_naming_the_limit_and_nothing_is_stored(pond: Pond) -> None:
    response = pond.refuse("PUT", "/v1/behaviors/big", ONE_MB_BEHAVIOR)
    # The Keeper's body limit (413) or the document's own (422), never the store's 503.
    assert response.status in {413, 422}
    assert any(limit in response.body["error"]["message"] for limit in ("262144", "262,144", "256 KiB"))
    assert pond.api.get("/v1/behaviors/big").status == 404


def inflating_behavior() -> dict[str, Any]:
    """Small on the wire, over 256 KiB as stored: every formation step gains its defaults."""
    steps = [{"name": f"s{i}", "action": "a", "within_seconds": 0} for i in range(100)]
    formations = {f"f{i}": {"start": {"every": "1h"}, "steps": steps} for i in range(32)}
    return {**action(body={"text": "x" * 40_000}), "formations": formations}


def test_a_document_over_256_kib_as_stored_is_422_naming_the_limit(pond: Pond) -> None:
    document = inflating_behavior()
    assert len(json.dumps(document)) < behavior.MAX_DOCUMENT_BYTES  # passes the Keeper's body limit
    response = pond.refuse("PUT", "/v1/behaviors/big", document)
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert "256 KiB" in response.body["error"]["message"]
    assert problem_paths(response) == ["body"]


def test_a_behavior_just_under_the_limit_is_stored(pond: Pond) -> None:
    near = action(body={"text": "x" * (behavior.MAX_DOCUMENT_BYTES - 1000)})
    response = pond.api.put("/v1/behaviors/near", near)
    assert response.status == 201, response.body


def test_an_item_dynamodb_finds_too_large_is_a_client_error_not_an_outage(
    keeper: Keeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the document limit, DynamoDB's own 400 KB item limit is what refuses the upload.
    monkeypatch.setattr(behavior, "MAX_DOCUMENT_BYTES", 10 * 1024 * 1024)
    with pytest.raises(ItemTooLargeError, match="400 KB") as refused:
        keeper.behaviors.put("big", ONE_MB_BEHAVIOR, "alice")
    assert status_of(refused.value) == 400
    assert isinstance(refused.value, StoreError)  # a poll's heartbeat still carries on past it
    with pytest.raises(NotFoundError):
        keeper.behaviors.get("big")


# --- behavior paths and params -------------------------------------------------------------------

BAD_PATHS = {
    "scheme-relative": "//evil.example/x",
    "crlf": "/api/x\r\nHost: evil.example",
    "nul": "/api/\x00x",
    "escape": "/api/\x1b[31mx",
    "space": "/api/a b",
    "tab": "/api/a\tb",
    "backslash": "/\\evil.example/x",
    "dot-dot": "/api/../admin",
    "encoded-dot-dot": "/api/%2e%2E/admin",
    "dot": "/./api",
    "absolute-url": "http://evil.example/x",
    "no-slash": "api/x",
    "too-long": "/" + "a" * 2048,
}


@pytest.mark.parametrize("path", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_a_bad_action_path_is_422_naming_it(pond: Pond, path: str) -> None:
    response = pond.refuse("PUT", "/v1/behaviors/average_user", action(path=path))
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == ["actions.a.path"]
    assert pond.api.get("/v1/behaviors/average_user").body["version"] == 1


@pytest.mark.parametrize("path", ["//evil.example/ws", "/ws\r\n", "/../ws"], ids=["scheme-relative", "crlf", "dot-dot"])
def test_a_bad_websocket_path_is_422_naming_it(pond: Pond, path: str) -> None:
    response = pond.refuse("PUT", "/v1/behaviors/average_user", {**MINIMAL_BEHAVIOR, "websocket": {"path": path}})
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == ["websocket.path"]


BAD_PARAMS = {
    "crlf-value": ({"q": "a\r\nb"}, "actions.a.params.q"),
    "nul-value": ({"q": "\x00"}, "actions.a.params.q"),
    "long-value": ({"q": "v" * 2049}, "actions.a.params.q"),
    "control-name": ({"q\x07": "v"}, "actions.a.params.q\x07"),
    "empty-name": ({"": "v"}, "actions.a.params"),
    "long-name": ({"n" * 129: "v"}, "actions.a.params." + "n" * 129),
    "too-many": ({f"p{i}": "v" for i in range(51)}, "actions.a.params"),
}


@pytest.mark.parametrize(("params", "field"), BAD_PARAMS.values(), ids=BAD_PARAMS.keys())
def test_a_bad_param_is_422_naming_it(pond: Pond, params: dict[str, str], field: str) -> None:
    response = pond.refuse("PUT", "/v1/behaviors/average_user", action(params=params))
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert all(path.startswith(field) for path in problem_paths(response)), problem_paths(response)


def test_a_description_with_control_characters_is_422(pond: Pond) -> None:
    response = pond.refuse("PUT", "/v1/behaviors/average_user", {**MINIMAL_BEHAVIOR, "description": "a\x1b[2Jb"})
    assert problem_paths(response) == ["description"]
    assert "U+001B" in response.body["error"]["message"]


def test_good_paths_params_and_multi_line_descriptions_are_stored(pond: Pond) -> None:
    document = {
        **action(path="/api/files/{user.id}/a..b?x=1", params={"q": "two words", "limit": "50"}),
        "description": "line one\n\tline two",
    }
    assert pond.api.put("/v1/behaviors/average_user", document).status == 201


# --- tests: tags, names, workspaces --------------------------------------------------------------

BAD_CREATES = {
    "10k-tag": (new_test_body(tags=["t" * 10_000]), "tags.0"),
    "control-tag": (new_test_body(tags=["ok", "a\x07b"]), "tags.1"),
    "crlf-tag": (new_test_body(tags=["a\r\nb"]), "tags.0"),
    "empty-tag": (new_test_body(tags=[""]), "tags.0"),
    "long-tag": (new_test_body(tags=["t" * 65]), "tags.0"),
    "control-name": (new_test_body(name="nightly\x1b[2J"), "name"),
    "newline-name": (new_test_body(name="nightly\n"), "name"),
    "10k-name": (new_test_body(name="n" * 10_000), "name"),
    "control-workspace": (new_test_body(workspace="pond\x00"), "workspace"),
    "long-workspace": (new_test_body(workspace="w" * 65), "workspace"),
}


@pytest.mark.parametrize(("body", "field"), BAD_CREATES.values(), ids=BAD_CREATES.keys())
def test_a_bad_test_field_is_422_naming_it(pond: Pond, body: dict[str, Any], field: str) -> None:
    response = pond.refuse("POST", "/v1/tests", body)
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == [field]


def test_tags_of_up_to_64_characters_are_stored(pond: Pond) -> None:
    response = pond.api.post("/v1/tests", new_test_body(tags=["t" * 64, "team chat"]))
    assert response.status == 201, response.body
    assert response.body["tags"] == ["t" * 64, "team chat"]


# --- reasons -------------------------------------------------------------------------------------

REASON_ROUTES = {
    "estop": ("POST", "/v1/emergency-stop", {}),
    "lift-estop": ("DELETE", "/v1/emergency-stop", {}),
    "stop": ("POST", "/v1/tests/{test}/stop", {}),
    "resume": ("POST", "/v1/tests/{test}/resume", {}),
    "scale": ("PATCH", "/v1/tests/{test}", {"koi": 10}),
    "rollout-create": ("POST", "/v1/rollouts", {"stages": [{"koi": 10, "hold": "1h"}]}),
    "rollout-pause": ("POST", "/v1/rollouts/{rollout}/pause", {}),
    "rollout-abort": ("POST", "/v1/rollouts/{rollout}/abort", {}),
}
BAD_REASONS = {
    "escape": "stop \x1b[31mnow",
    "cr": "stop\r\nnow",
    "nul": "stop\x00",
    "bidi-override": "stop \u202enow",
    "too-long": "r" * 501,
}


@pytest.mark.parametrize(("method", "path", "body"), REASON_ROUTES.values(), ids=REASON_ROUTES.keys())
@pytest.mark.parametrize("reason", BAD_REASONS.values(), ids=BAD_REASONS.keys())
def test_a_bad_reason_is_422_naming_it(pond: Pond, method: str, path: str, body: dict[str, Any], reason: str) -> None:
    if path == "/v1/rollouts":
        body = {**body, "test_id": pond.test_id}
    response = pond.refuse(method, path, {**body, "reason": reason})
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert problem_paths(response) == ["reason"]


def test_a_reason_may_span_lines(pond: Pond) -> None:
    response = pond.api.post("/v1/emergency-stop", {"reason": "checkout p99 above 2s\nsee #incident"})
    assert response.status == 200, response.body
    assert response.body["reason"] == "checkout p99 above 2s\nsee #incident"


# --- the store: DynamoDB's item size limit -------------------------------------------------------


@pytest.fixture
def table(dynamodb: Any, settings: Settings) -> DynamoTable:
    return DynamoTable(dynamodb, settings.table_name)


HUGE = "x" * 500_000


WRITES: dict[str, Callable[[DynamoTable], object]] = {
    "put": lambda table: table.put({"pk": "BIG", "sk": "META", "doc": HUGE}),
    "update": lambda table: table.update("BIG", "META", "SET #doc = :doc", {":doc": HUGE}, {"#doc": "doc"}),
    "transact": lambda table: table.transact([table.put_action({"pk": "BIG", "sk": "META", "doc": HUGE})]),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_write_of_an_item_over_400_kb_is_item_too_large(
    table: DynamoTable, write: Callable[[DynamoTable], object]
) -> None:
    with pytest.raises(ItemTooLargeError, match="400 KB") as refused:
        write(table)
    assert (refused.value.code, status_of(refused.value)) == ("item_too_large", 400)
    # moto leaves the bare key of an update it refused (DynamoDB writes nothing); never the document.
    assert "doc" not in (table.get("BIG", "META") or {})


def test_a_transaction_cancelled_for_item_size_is_item_too_large() -> None:
    # Real DynamoDB reports it inside a transaction as a cancellation reason, not as the error itself.
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled [None, ValidationError]"},
        "CancellationReasons": [
            {"Code": "None"},
            {"Code": "ValidationError", "Message": "Item size to update has exceeded the maximum allowed size"},
        ],
    }

    class Refusing:
        def transact_write_items(self, **_: Any) -> None:
            raise ClientError(response, "TransactWriteItems")

    with pytest.raises(ItemTooLargeError):
        DynamoTable(Refusing(), "koipond").transact([{"Put": {}}])  # type: ignore[arg-type,list-item]


def test_other_validation_errors_stay_store_errors(table: DynamoTable) -> None:
    with pytest.raises(StoreError) as failed:
        table.update("X", "META", "SET #a = :missing", {":other": 1}, {"#a": "a"})
    assert not isinstance(failed.value, ItemTooLargeError)
