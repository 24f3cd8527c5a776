"""``koipond behaviors source`` and ``koipond test start --behavior NAME@latest`` through a real HTTP Keeper."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from koipond.composition import Keeper
from koipond.settings import Settings
from tests.conftest import ADMIN_TOKEN, Api
from tests.integration.keeper_http import keeper_over_http, koipond
from tests.unit.services.behavior_source_fixtures import BASE_BEHAVIOR


@pytest.fixture
def settings() -> Settings:
    return Settings(admin_token=ADMIN_TOKEN, table_name="koipond-test", behavior_source_locations="s3://usage/exports/")


@pytest.fixture
def keeper_url(api: Api) -> Iterator[str]:
    assert api.put("/v1/behaviors/avg", BASE_BEHAVIOR).status == 201
    with keeper_over_http() as url:
        yield url


def as_json(url: str, *args: str) -> Any:
    result = koipond(url, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_set_show_list_and_delete_a_source(keeper_url: str) -> None:
    set_ = koipond(keeper_url, "behaviors", "source", "set", "avg", "--s3", "s3://usage/exports/avg.csv",
                   "--window", "7d", "--schedule", "12h", "--threshold", "20")  # fmt: skip
    assert set_.exit_code == 0, set_.output
    assert "behavior avg follows s3://usage/exports/avg.csv" in set_.output
    shown = as_json(keeper_url, "behaviors", "source", "show", "avg")
    assert shown["source"] == {
        "kind": "s3",
        "bucket": "usage",
        "key": "exports/avg.csv",
        "percentile_of": "method",
        "method_label": "method",
        "window": "7d",
        "schedule": "12h",
        "threshold_percent": 20.0,
    }
    [listed] = as_json(keeper_url, "behaviors", "source", "list")
    assert listed["name"] == "avg"
    assert koipond(keeper_url, "behaviors", "source", "delete", "avg").exit_code == 0
    assert koipond(keeper_url, "behaviors", "source", "show", "avg").exit_code == 1


def test_a_source_the_keeper_refuses_exits_1_with_its_reason(keeper_url: str) -> None:
    outside = koipond(keeper_url, "behaviors", "source", "set", "avg", "--s3", "s3://tokens/x.csv", "--window", "1d")
    assert outside.exit_code == 1
    assert "outside the locations" in " ".join(outside.output.split())
    both = koipond(keeper_url, "behaviors", "source", "set", "avg", "--s3", "s3://usage/exports/a.csv", "--query", "q")
    assert both.exit_code == 2


def test_a_test_started_on_name_at_latest_follows_the_behavior(keeper_url: str, keeper: Keeper, api: Api) -> None:
    started = as_json(keeper_url, "test", "start", "--name", "follow", "--target", "http://127.0.0.1:8800",
                      "--behavior", "avg@latest", "--workspace", "pond", "--koi", "10")  # fmt: skip
    assert started["behavior"] == {"name": "avg", "version": 1, "follow_latest": True}
    assert api.put("/v1/behaviors/avg", BASE_BEHAVIOR).status == 201
    school = api.post("/v1/keys", {"name": "s1", "role": "school", "school_id": "s1"}).body["token"]
    specs = api.as_(school).post("/v1/schools/s1/test-specs", {"test_ids": [started["id"]]}).body["specs"]
    [spec] = specs
    assert (spec["behavior"]["version"], spec["follow_latest"], spec["refresh_seconds"]) == (2, True, 60.0)
    assert spec["behavior_change"]["from_version"] == 1
    assert spec["behavior_change"]["to_version"] == 2
    bad = koipond(keeper_url, "test", "start", "--name", "x", "--target", "http://127.0.0.1:8800",
                  "--behavior", "avg@newest", "--workspace", "pond", "--koi", "10")  # fmt: skip
    assert bad.exit_code == 2
