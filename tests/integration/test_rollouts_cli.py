"""``koipond rollout`` and ``koipond test start --resume`` through a real HTTP Keeper (the Lambda handler on moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from koipond.composition import Keeper
from tests.conftest import Api, new_test_body
from tests.integration.keeper_http import keeper_over_http, koipond


@pytest.fixture
def keeper_url(api: Api) -> Iterator[str]:
    with keeper_over_http() as url:
        yield url


def flat(result: Result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def as_json(url: str, *args: str) -> Any:
    result = koipond(url, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_start_show_and_steer_a_rollout(api: Api, keeper: Keeper, keeper_url: str) -> None:
    test_id = api.post("/v1/tests", new_test_body(koi=20)).body["id"]
    started = koipond(keeper_url, "rollout", "start", test_id, "--stage", "5,000:7d", "--stage", "50000:1h30m")
    assert started.exit_code == 0, started.output
    [listed] = as_json(keeper_url, "rollout", "list")
    assert [(s["koi"], s["hold_seconds"]) for s in listed["stages"]] == [(5000, 7 * 86400), (50000, 5400)]
    shown = koipond(keeper_url, "rollout", "show", listed["id"])
    assert "▶" in shown.output
    assert "started" in shown.output
    paused = koipond(keeper_url, "rollout", "pause", listed["id"], "--reason", "lunch")
    assert paused.exit_code == 0, paused.output
    assert "paused: lunch" in flat(paused)
    refused = koipond(keeper_url, "rollout", "advance", listed["id"], "--reason", "skip it")
    assert refused.exit_code == 1
    assert "resume it first (HTTP 409 conflict)" in flat(refused)
    no_reason = koipond(keeper_url, "rollout", "abort", listed["id"])
    assert no_reason.exit_code == 2
    assert "--reason" in no_reason.output


def test_a_plan_file_in_yaml_or_json(api: Api, keeper_url: str, tmp_path: Path) -> None:
    test_id = api.post("/v1/tests", new_test_body(koi=20)).body["id"]
    plan = tmp_path / "launch.yaml"
    plan.write_text("stages:\n  - {koi: 50, hold: 10m}\n  - 100:1h\n", encoding="utf-8")
    rollout = as_json(keeper_url, "rollout", "start", test_id, "--plan", str(plan), "--reason", "launch")
    assert [(s["koi"], s["hold"]) for s in rollout["stages"]] == [(50, "10m"), (100, "1h")]
    other = api.post("/v1/tests", new_test_body(koi=20)).body["id"]
    as_json_plan = tmp_path / "plan.json"
    as_json_plan.write_text(json.dumps([{"koi": 10, "hold": 60}]), encoding="utf-8")
    assert as_json(keeper_url, "rollout", "start", other, "--plan", str(as_json_plan))["stages"][0]["hold"] == "1m"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--stage", "5000"], "is not KOI:HOLD"),
        (["--stage", "5000:soon"], "not a duration"),
        ([], "--stage (repeatable) or --plan FILE"),
        (["--stage", "100:1m", "--stage", "50:1m"], "stage 2: koi must exceed"),
    ],
)
def test_bad_stages_are_named_and_nothing_starts(api: Api, keeper_url: str, args: list[str], words: str) -> None:
    test_id = api.post("/v1/tests", new_test_body(koi=20)).body["id"]
    result = koipond(keeper_url, "rollout", "start", test_id, *args)
    assert result.exit_code != 0
    assert words in flat(result)
    assert api.get("/v1/rollouts").body["rollouts"] == []


def test_start_a_continuous_test_that_resumes_itself(api: Api, keeper_url: str) -> None:
    started = as_json(
        keeper_url, "test", "start", "--name", "always", "--target", "http://127.0.0.1:8800",
        "--behavior", "average_user", "--koi", "10", "--resume", "auto", "--cool-down", "10m",
    )  # fmt: skip
    assert started["resume_policy"] == {"mode": "auto", "cool_down_seconds": 600}
    shown = koipond(keeper_url, "test", "show", started["id"])
    assert "resumes 10m after a guard stop once healthy" in flat(shown)
