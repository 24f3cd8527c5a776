"""Behavior document schema, templates and behavior files."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue, ValidationError

from koipond.behavior_files import load_behavior_dir, load_behavior_file, validation_problems
from koipond.errors import BehaviorInvalidError
from koipond.models.behavior import BehaviorDocument, FormationStart, KoiShare, StoredBehavior
from koipond.models.templates import (
    TEMPLATE_VARIABLES,
    TemplateError,
    escape_template,
    render_json,
    render_template,
    template_variables,
)

BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"
SHIPPED = ["average_user.yaml", "org_wide_announcement.yaml"]


def minimal() -> dict[str, Any]:
    return {
        "description": "test",
        "actions": {
            "post": {
                "method": "POST",
                "path": "/api/chat.postMessage",
                "body": {"channel": "{channel.id}", "text": "{random.text}"},
                "rate_per_hour": 4,
            },
            "read": {"method": "GET", "path": "/api/conversations.history", "rate_per_hour": 20},
        },
        "channels": {"count_per_koi": 3, "org_wide": "general"},
        "formations": {
            "announce": {
                "start": {"every": "1h"},
                "channel": "org_wide",
                "steps": [
                    {"name": "post", "action": "post", "koi": "first", "within_seconds": 0},
                    {"name": "react", "action": "read", "koi": {"share": 0.6}, "within_seconds": 60},
                    {"name": "read", "action": "read", "within_seconds": 120},
                ],
            }
        },
    }


def problems_of(document: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        BehaviorDocument.model_validate(document)
    return validation_problems(caught.value)


def with_change(path: list[str | int], value: Any) -> dict[str, Any]:
    document = minimal()
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


# --- shipped files -------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", SHIPPED)
def test_shipped_behavior_file_loads(file_name: str) -> None:
    document = load_behavior_file(BEHAVIORS / file_name)
    assert document.steady_rate_per_hour > 0


def test_behavior_dir_loads_every_shipped_file_by_name() -> None:
    assert set(load_behavior_dir(BEHAVIORS)) >= {"average_user", "org_wide_announcement"}


def test_org_wide_announcement_is_admin_post_then_reactions_then_everyone_reads() -> None:
    document = load_behavior_file(BEHAVIORS / "org_wide_announcement.yaml")
    formation = document.formations["org_wide_announcement"]
    announce, react, read = formation.steps
    assert formation.channel == "org_wide"
    assert document.channels.org_wide is not None
    assert announce.koi == "first"
    assert react.koi == KoiShare(share=0.6)
    assert react.within_seconds <= 60
    assert read.koi == "all"
    assert document.actions[read.action].path == "/api/conversations.history"


def test_document_round_trips_through_json() -> None:
    document = load_behavior_file(BEHAVIORS / "org_wide_announcement.yaml")
    assert BehaviorDocument.model_validate_json(document.model_dump_json()) == document


# --- field and cross-field validation ------------------------------------------------------------


def test_unknown_action_field_is_rejected_naming_its_path() -> None:
    problems = problems_of(with_change(["actions", "post", "bodyy"], {}))
    assert problems == [{"path": "actions.post.bodyy", "problem": "unknown field 'bodyy'"}]


def test_negative_rate_is_rejected() -> None:
    problems = problems_of(with_change(["actions", "post", "rate_per_hour"], -1))
    assert [p["path"] for p in problems] == ["actions.post.rate_per_hour"]
    assert "greater than or equal to 0" in problems[0]["problem"]


def test_negative_weight_is_rejected() -> None:
    problems = problems_of(with_change(["actions", "read", "weight"], -0.5))
    assert [p["path"] for p in problems] == ["actions.read.weight"]


def test_unknown_template_variable_is_rejected_naming_variable_and_path() -> None:
    problems = problems_of(with_change(["actions", "post", "body", "blocks"], [{"text": "hi {chanel.id}"}]))
    assert [p["path"] for p in problems] == ["actions.post.body.blocks[0].text"]
    assert "'chanel.id'" in problems[0]["problem"]
    assert "did you mean 'channel.id'" in problems[0]["problem"]


def test_unbalanced_brace_in_params_is_rejected_naming_the_param() -> None:
    problems = problems_of(with_change(["actions", "read", "params"], {"channel": "{channel.id"}))
    assert [p["path"] for p in problems] == ["actions.read.params.channel"]
    assert "unbalanced" in problems[0]["problem"]


def test_step_naming_unknown_action_is_rejected_naming_formation_step_and_action() -> None:
    problems = problems_of(with_change(["formations", "announce", "steps", 1, "action"], "reactt"))
    assert [p["path"] for p in problems] == ["formations.announce.steps[1].action"]
    assert all(name in problems[0]["problem"] for name in ("'announce'", "'react'", "'reactt'"))


@pytest.mark.parametrize(
    ("after", "why"), [("nope", "no step of this formation"), ("read", "a later step"), ("react", "itself")]
)
def test_step_after_must_name_an_earlier_step(after: str, why: str) -> None:
    problems = problems_of(with_change(["formations", "announce", "steps", 1, "after"], after))
    assert problems == [
        {
            "path": "formations.announce.steps[1].after",
            "problem": f"step 'react' runs after {after!r}, which is {why}",
        }
    ]


def test_step_after_an_earlier_step_is_accepted() -> None:
    document = BehaviorDocument.model_validate(with_change(["formations", "announce", "steps", 2, "after"], "post"))
    assert document.formations["announce"].duration_seconds == 120


def test_koi_selector_rejects_share_above_one_in_one_message() -> None:
    problems = problems_of(with_change(["formations", "announce", "steps", 1, "koi"], {"share": 1.5}))
    assert [p["path"] for p in problems] == ["formations.announce.steps[1].koi"]


def test_reconnect_min_above_max_is_rejected() -> None:
    document = minimal() | {"websocket": {"reconnect_min_seconds": 90, "reconnect_max_seconds": 30}}
    assert [p["path"] for p in problems_of(document)] == ["websocket.reconnect_min_seconds"]


def test_org_wide_formation_without_org_wide_channel_is_rejected() -> None:
    problems = problems_of(with_change(["channels", "org_wide"], None))
    assert [p["path"] for p in problems] == ["formations.announce.channel"]


def test_formation_start_needs_exactly_one_form() -> None:
    problems = problems_of(with_change(["formations", "announce", "start"], {"every": "1h", "daily_utc": "09:00"}))
    assert [p["path"] for p in problems] == ["formations.announce.start"]
    assert "exactly one" in problems[0]["problem"]


def test_formation_every_shorter_than_a_run_is_rejected() -> None:
    problems = problems_of(with_change(["formations", "announce", "start"], {"every": "2m"}))
    assert [p["path"] for p in problems] == ["formations.announce.start.every"]


def test_name_for_metrics_defaults_to_the_action_name() -> None:
    document = BehaviorDocument.model_validate(minimal())
    assert document.actions["post"].name_for_metrics == "post"


def test_every_start_fires_on_multiples_of_the_interval_since_the_epoch() -> None:
    start = FormationStart(every="1h")
    assert start.next_after(datetime(2025, 3, 1, 10, 30, tzinfo=UTC)) == datetime(2025, 3, 1, 11, tzinfo=UTC)
    assert start.next_after(datetime(2025, 3, 1, 11, tzinfo=UTC)) == datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_daily_start_fires_tomorrow_once_today_has_passed() -> None:
    start = FormationStart(daily_utc="09:00")
    assert start.next_after(datetime(2025, 3, 1, 10, tzinfo=UTC)) == datetime(2025, 3, 2, 9, tzinfo=UTC)


def test_stored_behavior_rejects_bad_name_and_naive_time() -> None:
    with pytest.raises(ValidationError) as caught:
        StoredBehavior(
            name="Bad Name",
            version=1,
            document=BehaviorDocument.model_validate(minimal()),
            created_at=datetime(2025, 1, 1),  # naive on purpose
            created_by="ops",
        )
    assert {p["path"] for p in validation_problems(caught.value)} == {"name", "created_at"}


# --- templates -----------------------------------------------------------------------------------


def test_render_template_substitutes_and_unescapes_braces() -> None:
    rendered = render_template("{{literal}} {koi.id}/{{{koi.index}}}", {"koi.id": "t-7", "koi.index": "7"})
    assert rendered == "{literal} t-7/{7}"


def test_template_variables_lists_each_variable_once_in_order() -> None:
    assert template_variables("{user.id}-{koi.id}-{user.id} {{workspace}}") == ("user.id", "koi.id")


@pytest.mark.parametrize("template", ["{", "}", "a{b", "a}b", "{koi.id", "{ koi.id }", "{}", "{a{b}}"])
def test_malformed_template_raises_template_error(template: str) -> None:
    with pytest.raises(TemplateError):
        template_variables(template)


def test_render_template_without_a_value_names_the_variable() -> None:
    with pytest.raises(TemplateError, match=r"'user\.id'"):
        render_template("{user.id}", {})


def test_render_json_renders_strings_and_keeps_keys_and_numbers() -> None:
    body: JsonValue = {"{koi.id}": ["{koi.id}", 3, None, {"deep": "{koi.id}"}], "flag": True}
    expected = {"{koi.id}": ["k", 3, None, {"deep": "k"}], "flag": True}
    assert render_json(body, {"koi.id": "k"}) == expected


brace_free = st.text(alphabet=st.characters(blacklist_characters="{}"))
allowed_names = st.sampled_from(sorted(TEMPLATE_VARIABLES))
values = st.fixed_dictionaries({name: brace_free for name in TEMPLATE_VARIABLES})


@given(text=brace_free, variables=values)
def test_render_template_is_identity_on_brace_free_text(text: str, variables: dict[str, str]) -> None:
    assert render_template(text, variables) == text


@given(parts=st.lists(st.one_of(brace_free, allowed_names.map(lambda n: ("var", n)))), variables=values)
def test_render_template_leaves_no_allowed_placeholder_unrendered(
    parts: list[str | tuple[str, str]], variables: dict[str, str]
) -> None:
    template = "".join(f"{{{p[1]}}}" if isinstance(p, tuple) else p for p in parts)
    expected = "".join(variables[p[1]] if isinstance(p, tuple) else p for p in parts)
    rendered = render_template(template, variables)
    assert rendered == expected
    assert not any(f"{{{name}}}" in rendered for name in TEMPLATE_VARIABLES)


@given(text=st.text())
def test_escaped_text_renders_back_to_itself(text: str) -> None:
    assert render_template(escape_template(text), {}) == text
    assert template_variables(escape_template(text)) == ()


def test_values_are_inserted_verbatim_not_rendered_again() -> None:
    assert render_template("{random.text}", {"random.text": "{koi.id}"}) == "{koi.id}"


# --- files ---------------------------------------------------------------------------------------


def write_yaml(tmp_path: Path, document: dict[str, Any], name: str = "broken.yaml") -> Path:
    file = tmp_path / name
    file.write_text(yaml.safe_dump(document), encoding="utf-8")
    return file


def test_broken_file_error_names_file_path_and_problem(tmp_path: Path) -> None:
    file = write_yaml(tmp_path, with_change(["formations", "announce", "steps", 1, "action"], "reactt"))
    with pytest.raises(BehaviorInvalidError) as caught:
        load_behavior_file(file)
    assert str(file) in caught.value.message
    assert "formations.announce.steps[1].action" in caught.value.message
    assert "'reactt'" in caught.value.message
    assert caught.value.details["file"] == str(file)
    assert [p["path"] for p in caught.value.details["problems"]] == ["formations.announce.steps[1].action"]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    document = copy.deepcopy(minimal())
    document["actions"]["post"]["rate_per_hour"] = -1
    document["actions"]["read"]["verb"] = "GET"
    with pytest.raises(BehaviorInvalidError) as caught:
        load_behavior_file(write_yaml(tmp_path, document))
    paths = {p["path"] for p in caught.value.details["problems"]}
    assert paths == {"actions.post.rate_per_hour", "actions.read.verb"}


def test_negative_rate_and_unknown_step_action_are_reported_together(tmp_path: Path) -> None:
    document = with_change(["actions", "post", "rate_per_hour"], -1)
    document["formations"]["announce"]["steps"][1]["action"] = "reactt"
    with pytest.raises(BehaviorInvalidError) as caught:
        load_behavior_file(write_yaml(tmp_path, document))
    problems = caught.value.details["problems"]
    assert [p["path"] for p in problems] == ["actions.post.rate_per_hour", "formations.announce.steps[1].action"]
    assert "unknown action 'reactt'" in problems[1]["problem"]


def test_cross_field_checks_of_every_level_run_beside_field_errors() -> None:
    document = with_change(["actions", "post", "rate_per_hour"], -1)
    document["actions"]["post"]["body"]["text"] = "{random.txt}"
    document["websocket"] = {"reconnect_min_seconds": 100, "reconnect_max_seconds": 10, "ping_interval_seconds": -1}
    announce = document["formations"]["announce"]
    announce["start"] = {"every": "soon", "daily_utc": "09:00"}
    announce["steps"][1]["within_seconds"] = -5
    announce["steps"][2].update(after="nope", action="nope")
    document["channels"]["org_wide"] = None
    assert {p["path"] for p in problems_of(document)} == {
        "actions.post.rate_per_hour",
        "actions.post.body.text",
        "websocket.ping_interval_seconds",
        "websocket.reconnect_min_seconds",
        "formations.announce.start.every",
        "formations.announce.start",
        "formations.announce.steps[1].within_seconds",
        "formations.announce.steps[2].after",
        "formations.announce.steps[2].action",
        "formations.announce.channel",
    }


def test_a_cross_field_problem_is_reported_once_when_every_field_is_valid() -> None:
    document = with_change(["formations", "announce", "steps", 1, "action"], "reactt")
    document["formations"]["announce"]["steps"][2]["after"] = "zzz"
    assert [p["path"] for p in problems_of(document)] == [
        "formations.announce.steps[2].after",
        "formations.announce.steps[1].action",
    ]


def test_invalid_yaml_error_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("actions: [unclosed\n", encoding="utf-8")
    with pytest.raises(BehaviorInvalidError, match=r"broken\.yaml.*not valid YAML"):
        load_behavior_file(file)


def test_duplicate_yaml_key_is_rejected(tmp_path: Path) -> None:
    file = tmp_path / "dup.yaml"
    file.write_text("description: a\ndescription: b\nactions: {}\n", encoding="utf-8")
    with pytest.raises(BehaviorInvalidError, match="duplicate key 'description'"):
        load_behavior_file(file)


def test_unquoted_yaml_time_gets_a_quoting_hint(tmp_path: Path) -> None:
    document = with_change(["formations", "announce", "start"], {"daily_utc": "PLACEHOLDER"})
    file = write_yaml(tmp_path, document)
    file.write_text(file.read_text(encoding="utf-8").replace("PLACEHOLDER", "10:30"), encoding="utf-8")
    with pytest.raises(BehaviorInvalidError, match="quoted string"):
        load_behavior_file(file)


def test_json_behavior_file_loads(tmp_path: Path) -> None:
    file = tmp_path / "from_json.json"
    file.write_text(json.dumps(minimal()), encoding="utf-8")
    assert load_behavior_file(file) == BehaviorDocument.model_validate(minimal())


def test_file_with_unknown_suffix_is_rejected(tmp_path: Path) -> None:
    file = tmp_path / "behavior.toml"
    file.write_text("", encoding="utf-8")
    with pytest.raises(BehaviorInvalidError, match=r"behavior\.toml"):
        load_behavior_file(file)


def test_behavior_dir_rejects_a_file_name_that_is_no_behavior_name(tmp_path: Path) -> None:
    write_yaml(tmp_path, minimal(), name="Not A Name.yaml")
    (tmp_path / "README.md").write_text("ignored", encoding="utf-8")
    with pytest.raises(BehaviorInvalidError, match="Not A Name"):
        load_behavior_dir(tmp_path)


def test_behavior_dir_rejects_two_files_with_one_name(tmp_path: Path) -> None:
    write_yaml(tmp_path, minimal(), name="same.yaml")
    (tmp_path / "same.json").write_text(json.dumps(minimal()), encoding="utf-8")
    with pytest.raises(BehaviorInvalidError, match="already defines behavior 'same'"):
        load_behavior_dir(tmp_path)


def test_readme_example_is_a_valid_behavior() -> None:
    readme = (BEHAVIORS / "README.md").read_text(encoding="utf-8")
    example = readme.split("## Example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    document = BehaviorDocument.model_validate(yaml.safe_load(example))
    assert list(document.formations) == ["all_hands"]
