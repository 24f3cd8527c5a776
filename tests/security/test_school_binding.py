"""A school key acts only as its own School, or its fleet's (issue 14)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from koipond.composition import Keeper
from koipond.models.auth import ApiKey, Role
from koipond.services.auth import TOKEN_PREFIX, hash_secret
from koipond_cli.control_commands import keys_create
from tests.conftest import Api, new_test_body

POLL = {"capacity": 5000}


def school_key(api: Api, **binding: str) -> Api:
    response = api.post("/v1/keys", {"name": "a school", "role": "school", **binding})
    assert response.status == 201, response.body
    assert {k: response.body[k] for k in binding} == binding
    return api.as_(response.body["token"])


@pytest.mark.parametrize("route", ["poll", "test-specs"])
def test_a_key_bound_to_one_school_is_403_as_another(api: Api, route: str) -> None:
    mine = school_key(api, school_id="s-7")
    body = POLL if route == "poll" else {"test_ids": ["lt-0000000000"]}
    assert mine.post(f"/v1/schools/s-7/{route}", body).status == 200
    refused = mine.post(f"/v1/schools/victim-school/{route}", body)
    assert (refused.status, refused.error_code) == (403, "wrong_school")
    assert "'s-7'" in refused.body["error"]["message"]
    assert "'victim-school'" in refused.body["error"]["message"]


def test_another_key_cannot_poll_a_school_down_to_zero_or_take_its_koi(api: Api) -> None:
    test_id = api.post("/v1/tests", new_test_body(koi=300)).body["id"]
    victim = school_key(api, school_id="victim-school")
    assert [a["koi"] for a in victim.post("/v1/schools/victim-school/poll", POLL).body["assignments"]] == [300]
    attacker = school_key(api, school_id="attacker")
    assert attacker.post("/v1/schools/victim-school/poll", {"capacity": 0}).status == 403
    answer = victim.post("/v1/schools/victim-school/poll", POLL).body
    assert [(a["test_id"], a["koi"]) for a in answer["assignments"]] == [(test_id, 300)]
    (listed,) = api.get("/v1/schools").body["schools"]
    assert (listed["id"], listed["capacity"]) == ("victim-school", 5000)


def test_a_fleet_key_polls_as_any_school_with_its_prefix_and_no_other(api: Api) -> None:
    fleet = school_key(api, school_prefix="eks-prod-")
    assert fleet.post("/v1/schools/eks-prod-a1b2/poll", POLL).status == 200
    assert fleet.post("/v1/schools/eks-prod-c3d4/poll", POLL).status == 200
    for other in ("eks-staging-a1b2", "eks-prod", "xeks-prod-1"):
        assert fleet.post(f"/v1/schools/{other}/poll", POLL).error_code == "wrong_school"


def test_a_school_key_from_before_binding_is_refused_and_told_to_reissue(api: Api, keeper: Keeper) -> None:
    # A key as an older Keeper stored it: a school key with no School.
    legacy = ApiKey(
        id="key-legacy0001",
        name="old schools",
        role=Role.SCHOOL,
        secret_hash=hash_secret("s3cret"),
        created_at=keeper.auth.list_keys()[0].created_at,
        created_by="alice",
    )
    keeper.auth._keys.create(legacy, None)
    old = api.as_(f"{TOKEN_PREFIX}key-legacy0001_s3cret")
    for route, body in (("poll", POLL), ("test-specs", {"test_ids": ["lt-0000000000"]})):
        refused = old.post(f"/v1/schools/s1/{route}", body)
        assert (refused.status, refused.error_code) == (403, "school_key_unbound")
        assert "koipond keys create --role school --school-id" in refused.body["error"]["message"]
    assert api.get("/v1/schools").body["schools"] == []


def test_admins_still_poll_as_any_school(api: Api) -> None:
    assert api.post("/v1/schools/anything-1/poll", POLL).status == 200


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"role": "school"}, "school_id"),
        ({"role": "school", "school_id": "s1", "school_prefix": "s"}, "school_prefix"),
        ({"role": "viewer", "school_id": "s1"}, "school_id"),
        ({"role": "admin", "school_prefix": "s"}, "school_prefix"),
        ({"role": "school", "school_id": "Not_An_Id"}, "school_id"),
        ({"role": "school", "school_prefix": ""}, "school_prefix"),
    ],
    ids=["school-unbound", "school-both", "viewer-bound", "admin-bound", "bad-id", "empty-prefix"],
)
def test_a_key_whose_binding_does_not_fit_its_role_is_422_naming_the_field(
    api: Api, body: dict[str, Any], path: str
) -> None:
    before = api.get("/v1/keys").body
    response = api.post("/v1/keys", {"name": "k", **body})
    assert (response.status, response.error_code) == (422, "validation_failed")
    assert [p["path"] for p in response.body["error"]["details"]["problems"]] == [path]
    assert api.get("/v1/keys").body == before


def test_listed_keys_show_their_binding(api: Api) -> None:
    school_key(api, school_prefix="eks-prod-")
    (listed,) = [k for k in api.get("/v1/keys").body["keys"] if k["role"] == "school"]
    assert (listed["school_id"], listed["school_prefix"]) == (None, "eks-prod-")


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "school"],
        ["--role", "school", "--school-id", "s1", "--school-prefix", "s"],
        ["--role", "operator", "--school-id", "s1"],
    ],
    ids=["school-unbound", "school-both", "operator-bound"],
)
def test_the_cli_refuses_a_binding_that_does_not_fit_the_role_before_calling(args: list[str]) -> None:
    result = CliRunner().invoke(keys_create, ["--name", "k", *args])
    assert result.exit_code == 2
    assert "--school-id" in result.output
