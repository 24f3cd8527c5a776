"""Behavior sources on AWS: the release tick may read usage exports only under the configured locations."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from cdk.app import build_app
from koipond import envvars
from tests.infra.conftest import NO_BUNDLING
from tests.infra.template_queries import function, role_actions

TICK = "lambdas.release_tick.handler.lambda_handler"
KEEPER = "lambdas.keeper_api.handler.lambda_handler"
GUARD = "lambdas.shutdown_guard.handler.lambda_handler"
LOCATIONS = "s3://usage-exports/koipond/,s3://warehouse-out"


@pytest.fixture(scope="module")
def stack() -> cdk.Stack:
    app = build_app({**NO_BUNDLING, "koipond:behaviorSourceLocations": LOCATIONS})
    child = app.node.find_child("koipond-dev")
    assert isinstance(child, cdk.Stack)
    return child


@pytest.fixture(scope="module")
def template(stack: cdk.Stack) -> Template:
    return Template.from_stack(stack)


def _env(props: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = props["Properties"]["Environment"]["Variables"]
    return variables


def test_the_tick_may_get_objects_under_the_configured_locations_only(template: Template) -> None:
    _, tick = function(template, TICK)
    allowed = role_actions(template, tick)
    assert {a for a in allowed if a.startswith("s3:")} == {"s3:GetObject"}
    [resources] = allowed["s3:GetObject"]
    assert resources == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::usage-exports/koipond/*"]]},
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::warehouse-out/*"]]},
    ]


def test_the_keeper_and_the_tick_know_the_locations_and_no_other_function_does(template: Template) -> None:
    _, tick = function(template, TICK)
    _, keeper = function(template, KEEPER)
    _, guard = function(template, GUARD)
    assert _env(tick)[envvars.BEHAVIOR_SOURCE_LOCATIONS] == LOCATIONS
    assert _env(keeper)[envvars.BEHAVIOR_SOURCE_LOCATIONS] == LOCATIONS
    assert envvars.BEHAVIOR_SOURCE_LOCATIONS not in _env(guard)
    assert "s3:GetObject" not in role_actions(template, guard)


def test_cdk_nag_stays_clean_with_locations_configured(stack: cdk.Stack) -> None:
    annotations = Annotations.from_stack(stack)
    found = [
        *annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")),
        *annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")),
    ]
    assert [f"{f.id}: {str(f.entry.data)[:160]}" for f in found] == []


def test_a_malformed_location_fails_the_synthesis_naming_the_context_key() -> None:
    with pytest.raises(ValueError, match="koipond:behaviorSourceLocations: not an S3 location"):
        build_app({**NO_BUNDLING, "koipond:behaviorSourceLocations": "usage-exports/koipond"})
