"""``koipond behaviors check``: validation, the load preview per 1,000 koi, and implausible-rate warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from koipond.behavior_files import load_behavior_file
from koipond.models.behavior import BehaviorDocument
from koipond.models.behavior_preview import preview_behavior
from koipond_cli.main import cli

BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"


def document(actions: dict[str, Any], **extra: Any) -> BehaviorDocument:
    return BehaviorDocument.model_validate({"description": "t", "actions": actions, **extra})


def action(rate: float, weight: float = 1.0, path: str = "/api/x") -> dict[str, Any]:
    return {"method": "GET", "path": path, "rate_per_hour": rate, "weight": weight}


def check(tmp_path: Path, data: dict[str, Any] | None, *args: str, file: Path | None = None) -> Result:
    if file is None:
        file = tmp_path / "b.yaml"
        file.write_text(yaml.safe_dump(data))
    return CliRunner().invoke(cli, ["behaviors", "check", str(file), *args], terminal_width=200)


def test_average_user_makes_about_ten_and_a_half_requests_a_second_per_thousand_koi() -> None:
    preview = preview_behavior(load_behavior_file(BEHAVIORS / "average_user.yaml"))
    assert preview.steady_per_koi_per_hour == 38
    assert preview.steady_requests_per_second == pytest.approx(38_000 / 3600)
    assert preview.total_requests_per_second == preview.steady_requests_per_second
    assert (preview.websocket.connections, preview.websocket.pings_per_second) == (1000, pytest.approx(1000 / 30))
    assert preview.warnings == ()


def test_formation_steps_count_per_firing_and_average_over_their_period() -> None:
    preview = preview_behavior(load_behavior_file(BEHAVIORS / "org_wide_announcement.yaml"))
    (formation,) = preview.formations
    steps = {s.step: s for s in formation.steps}
    assert formation.period_seconds == 3600
    assert steps["announce"].calls_per_firing == 1  # koi 0 only, whatever the koi
    assert steps["announce"].peak_requests_per_second is None  # all at once
    assert steps["react"].calls_per_firing == pytest.approx(600)  # share 0.6 of 1,000
    assert steps["react"].peak_requests_per_second == pytest.approx(600 / 60)
    assert steps["read"].average_requests_per_second == pytest.approx(1000 / 3600)
    assert preview.total_requests_per_second == pytest.approx(38_000 / 3600 + 1601 / 3600)


def test_a_one_off_formation_has_no_average_and_a_daily_one_averages_over_a_day() -> None:
    steps = [{"name": "s", "action": "a", "within_seconds": 10, "repeat": 2}]
    once = {"start": {"at": "2030-01-01T00:00:00Z"}, "share": 0.5, "spread_seconds": 10, "steps": steps}
    daily = {"start": {"daily_utc": "09:00"}, "steps": steps}
    preview = preview_behavior(document({"a": action(1)}, formations={"once": once, "daily": daily}))
    by_name = {f.name: f.steps[0] for f in preview.formations}
    assert by_name["once"].average_requests_per_second is None
    assert by_name["once"].peak_requests_per_second == pytest.approx(1000 / 20)  # 500 koi x 2 over 10 s + 10 s
    assert by_name["daily"].average_requests_per_second == pytest.approx(2000 / 86_400)


@given(rate=st.floats(0, 3600), weight=st.floats(0, 10), koi_scale=st.integers(1, 5))
def test_requests_per_second_are_the_effective_rate_of_a_thousand_koi(
    rate: float, weight: float, koi_scale: int
) -> None:
    doc = document({"a": action(rate, weight)} | {f"b{i}": action(rate) for i in range(koi_scale)})
    preview = preview_behavior(doc)
    assert preview.steady_requests_per_second == pytest.approx((rate * weight + rate * koi_scale) * 1000 / 3600)


def test_more_than_one_call_a_second_per_koi_is_implausible() -> None:
    preview = preview_behavior(document({"hot": action(2000, weight=2), "calm": action(10)}))
    assert [w.path for w in preview.warnings] == ["actions.hot", "actions"]
    assert "more than one a second" in preview.warnings[0].problem


def test_one_call_a_second_exactly_is_not_warned_about() -> None:
    assert preview_behavior(document({"a": action(3600)})).warnings == ()


def test_a_step_whose_koi_call_faster_than_once_a_second_is_implausible() -> None:
    steps = [
        {"name": "burst", "action": "a", "within_seconds": 0, "repeat": 3},
        {"name": "fast", "action": "a", "within_seconds": 2, "repeat": 10},
        {"name": "fine", "action": "a", "within_seconds": 60, "repeat": 10},
    ]
    formation = {"start": {"every": "1h"}, "steps": steps}
    preview = preview_behavior(document({"a": action(1)}, formations={"f": formation}))
    assert [w.path for w in preview.warnings] == ["formations.f.steps[0]", "formations.f.steps[1]"]


def test_a_behavior_that_makes_no_calls_is_warned_about() -> None:
    (warning,) = preview_behavior(document({"a": action(0)})).warnings
    assert "no calls" in warning.problem


def test_check_prints_each_action_and_the_total_per_thousand_koi(tmp_path: Path) -> None:
    result = check(tmp_path, None, file=BEHAVIORS / "average_user.yaml")
    assert result.exit_code == 0, result.output
    assert "average_user.yaml is valid" in result.output
    assert "read_history" in result.output
    assert "5.56" in result.output  # 20/h x 1,000 koi / 3,600 s
    assert "total: 10.6 req/s per 1,000 koi" in result.output
    assert "1,000 connections" in result.output


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = {"description": "x", "actions": {"a": {"method": "GET", "path": "//evil/x", "rate_per_hour": -1}}}
    result = check(tmp_path, bad)
    assert result.exit_code == 1
    assert "b.yaml is invalid (2 problems)" in result.output
    assert "actions.a.path" in result.output
    assert "actions.a.rate_per_hour" in result.output


def test_check_warns_of_an_implausible_rate_but_passes_unless_strict(tmp_path: Path) -> None:
    hot = {"description": "x", "actions": {"a": action(7200)}}
    warned = check(tmp_path, hot)
    assert warned.exit_code == 0
    assert "warning: actions.a: 7,200 calls per koi per hour is more than one a second" in warned.output
    assert check(tmp_path, hot, "--strict").exit_code == 1
    assert check(tmp_path, {"description": "x", "actions": {"a": action(10)}}, "--strict").exit_code == 0


def test_check_json_carries_the_preview(tmp_path: Path) -> None:
    result = check(tmp_path, None, "--json", file=BEHAVIORS / "org_wide_announcement.yaml")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["valid"] is True
    assert out["steady"]["per_koi_per_hour"] == 38
    assert {a["name"]: a["requests_per_second"] for a in out["actions"]}["post_message"] == pytest.approx(4000 / 3600)
    assert [s["step"] for s in out["formations"][0]["steps"]] == ["announce", "react", "read"]
    assert out["warnings"] == []


def test_check_json_of_an_invalid_file_lists_problems_and_exits_1(tmp_path: Path) -> None:
    bad = {"description": "x", "actions": {"a": {"method": "GET", "path": "/x", "rate_per_hour": "many"}}}
    file = tmp_path / "b.yaml"
    file.write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(cli, ["--json", "behaviors", "check", str(file)])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["valid"] is False
    assert [p["path"] for p in out["problems"]] == ["actions.a.rate_per_hour"]


def test_check_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert check(tmp_path, None, file=tmp_path / "nope.yaml").exit_code == 2
