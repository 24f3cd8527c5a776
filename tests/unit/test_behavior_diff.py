"""The diff of two behavior documents: each kind of change, and its symmetry as properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.behavior_files import load_behavior_file
from koipond.models.behavior import BehaviorDocument
from koipond.models.behavior_diff import ActionRate, FieldChange, RateChange, diff_behaviors

BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"
AVERAGE = load_behavior_file(BEHAVIORS / "average_user.yaml")
ANNOUNCEMENT = load_behavior_file(BEHAVIORS / "org_wide_announcement.yaml")


def edited(document: BehaviorDocument, **changes: Any) -> BehaviorDocument:
    """``document`` with top-level fields replaced (``actions`` merged: a None value deletes the action)."""
    data = document.model_dump(mode="json", exclude_none=True)
    for name, action in changes.pop("actions", {}).items():
        if action is None:
            del data["actions"][name]
        else:
            data["actions"][name] = {**data["actions"].get(name, {}), **action}
    return BehaviorDocument.model_validate({**data, **changes})


def test_a_rate_change_has_its_delta_in_calls_per_hour_per_cent_and_requests_per_second() -> None:
    diff = diff_behaviors(AVERAGE, edited(AVERAGE, actions={"read_history": {"rate_per_hour": 30}}))
    assert diff.rate_changes == (RateChange("read_history", 20, 1, 30, 1),)
    (change,) = diff.rate_changes
    assert (change.delta_per_koi_per_hour, change.percent) == (10, 50)
    assert change.delta_requests_per_second == pytest.approx(10_000 / 3600)
    assert diff.changes == ()
    assert (diff.steady_before_per_koi_per_hour, diff.steady_after_per_koi_per_hour) == (38, 48)


def test_a_weight_change_is_a_rate_change_and_a_rate_from_zero_has_no_percentage() -> None:
    after = edited(AVERAGE, actions={"auth_test": {"weight": 3}, "user_info": {"rate_per_hour": 0}})
    diff = diff_behaviors(edited(AVERAGE, actions={"user_info": {"rate_per_hour": 0}}), after)
    assert [c.action for c in diff.rate_changes] == ["auth_test"]
    assert diff.rate_changes[0].after_per_koi_per_hour == 3
    assert diff_behaviors(after, AVERAGE).rate_changes[1].percent is None  # user_info from 0 to 10


def test_actions_added_and_removed_carry_their_rates() -> None:
    after = edited(
        AVERAGE,
        actions={
            "auth_test": None,
            "search": {"method": "GET", "path": "/api/search.messages", "rate_per_hour": 2, "weight": 2},
        },
    )
    diff = diff_behaviors(AVERAGE, after)
    assert diff.actions_added == (ActionRate("search", "GET", "/api/search.messages", 4),)
    assert diff.actions_removed == (ActionRate("auth_test", "POST", "/api/auth.test", 1),)
    assert diff.actions_added[0].requests_per_second == pytest.approx(4000 / 3600)
    assert diff.rate_changes == ()


def test_template_changes_name_method_path_each_param_and_body_field() -> None:
    after = edited(
        AVERAGE,
        actions={
            "read_history": {"method": "POST", "params": {"channel": "{channel.id}", "limit": "100", "inclusive": "1"}},
            "post_message": {"path": "/api/chat.postEphemeral", "body": {"channel": "{channel.id}", "text": "hi"}},
        },
    )
    diff = diff_behaviors(AVERAGE, after)
    got = {(c.where, c.kind) for c in diff.section("action")}
    assert ("actions.read_history.method", "changed") in got
    assert ("actions.read_history.params.limit", "changed") in got
    assert ("actions.read_history.params.inclusive", "added") in got
    assert ("actions.post_message.path", "changed") in got
    assert ("actions.post_message.body.text", "changed") in got
    assert ("actions.post_message.body.client_msg_id", "removed") in got
    assert diff.rate_changes == ()


def test_websocket_channels_and_description_changes_are_their_own_sections() -> None:
    after = edited(
        AVERAGE,
        description="changed",
        websocket={"enabled": False},
        channels={"count_per_koi": 9, "org_wide": "general"},
    )
    diff = diff_behaviors(AVERAGE, after)
    assert [c.where for c in diff.section("websocket")] == ["websocket.enabled"]
    assert {(c.where, c.kind) for c in diff.section("channels")} == {
        ("channels.count_per_koi", "changed"),
        ("channels.org_wide", "added"),
    }
    assert diff.section("description") == (
        FieldChange("description", "", "", "changed", AVERAGE.description, "changed"),
    )


def test_formations_added_removed_and_a_changed_step_is_one_row() -> None:
    assert diff_behaviors(AVERAGE, ANNOUNCEMENT).formations_added == ("org_wide_announcement",)
    assert diff_behaviors(ANNOUNCEMENT, AVERAGE).formations_removed == ("org_wide_announcement",)
    data = ANNOUNCEMENT.model_dump(mode="json", exclude_none=True)
    formation = data["formations"]["org_wide_announcement"]
    formation["steps"][1]["within_seconds"] = 5
    formation["share"] = 0.5
    diff = diff_behaviors(ANNOUNCEMENT, BehaviorDocument.model_validate(data))
    step = formation["steps"][1]["name"]
    assert {c.where for c in diff.section("formation")} == {
        f"formations.org_wide_announcement.steps.{step}.within_seconds",
        "formations.org_wide_announcement.share",
    }


def test_reordered_steps_change_the_step_order() -> None:
    data = ANNOUNCEMENT.model_dump(mode="json", exclude_none=True)
    steps = data["formations"]["org_wide_announcement"]["steps"]
    steps[1]["after"] = steps[0]["name"]
    steps[2]["after"] = steps[0]["name"]
    steps[1], steps[2] = steps[2], steps[1]
    diff = diff_behaviors(ANNOUNCEMENT, BehaviorDocument.model_validate(data))
    assert "formations.org_wide_announcement.step_order" in {c.where for c in diff.changes}


# Documents built from a small pool of names, so two drawn documents share some actions and differ in others.
NAMES = ("a", "b", "c", "d")
rates = st.sampled_from([0.0, 0.5, 1.0, 4.0, 20.0, 360.0])
weights = st.sampled_from([0.0, 1.0, 2.0])
actions = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST"]),
        "path": st.sampled_from(["/api/a", "/api/b"]),
        "params": st.dictionaries(st.sampled_from(["x", "y"]), st.sampled_from(["1", "{koi.index}"]), max_size=2),
        "rate_per_hour": rates,
        "weight": weights,
    },
    optional={"body": st.dictionaries(st.sampled_from(["t", "u"]), st.sampled_from(["1", "{random.text}"]))},
)
formations = st.fixed_dictionaries(
    {
        "start": st.sampled_from([{"every": "1h"}, {"daily_utc": "16:00"}]),
        "share": st.sampled_from([0.5, 1.0]),
        "steps": st.lists(
            st.fixed_dictionaries(
                {"action": st.just("a"), "within_seconds": st.sampled_from([0, 60]), "koi": st.just("all")}
            ),
            min_size=1,
            max_size=3,
        ).map(lambda steps: [{**s, "name": f"s{i}"} for i, s in enumerate(steps)]),
    }
)
documents = st.builds(
    lambda first, rest, ws, count, forms, text: BehaviorDocument.model_validate(
        {
            "description": text,
            "actions": {"a": first, **rest},
            "websocket": {"enabled": ws},
            "channels": {"count_per_koi": count},
            "formations": forms,
        }
    ),
    actions,
    st.dictionaries(st.sampled_from(NAMES[1:]), actions, max_size=3),
    st.booleans(),
    st.sampled_from([1, 5]),
    st.dictionaries(st.sampled_from(["f", "g"]), formations, max_size=2),
    st.sampled_from(["one", "two"]),
)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_a_document_diffed_with_itself_is_empty(document: BehaviorDocument) -> None:
    assert diff_behaviors(document, document).empty


@settings(max_examples=150, deadline=None)
@given(documents, documents)
def test_the_diff_reversed_is_the_other_way_round_with_signs_flipped(a: BehaviorDocument, b: BehaviorDocument) -> None:
    forward, backward = diff_behaviors(a, b), diff_behaviors(b, a)
    assert backward == forward.reversed()
    assert [c.delta_per_koi_per_hour for c in backward.rate_changes] == [
        -c.delta_per_koi_per_hour for c in forward.rate_changes
    ]
    assert forward.empty == (a == b)


@settings(max_examples=150, deadline=None)
@given(documents, st.sets(st.sampled_from(NAMES)), st.sampled_from([0.5, 2.0, 3.0]))
def test_scaling_some_rates_shows_exactly_those_rate_changes(
    document: BehaviorDocument, scaled: set[str], factor: float
) -> None:
    data = document.model_dump(mode="json", exclude_none=True)
    for name in scaled & data["actions"].keys():
        data["actions"][name]["rate_per_hour"] *= factor
    diff = diff_behaviors(document, BehaviorDocument.model_validate(data))
    moved = {name for name in scaled if name in document.actions and document.actions[name].rate_per_hour}
    assert {c.action for c in diff.rate_changes} == moved
    for change in diff.rate_changes:
        assert change.rate_after == change.rate_before * factor
        assert change.weight_after == change.weight_before
        if change.percent is not None:
            assert change.percent == pytest.approx(100 * (factor - 1))
    assert (diff.actions_added, diff.actions_removed, diff.changes) == ((), (), ())
