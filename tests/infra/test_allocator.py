"""The allocator's schedule, env and narrow IAM, and how long one run loops before its deadline."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk.assertions import Template

from cdk.allocator import Allocator
from cdk.config import StageConfig
from koipond import envvars
from lambdas.allocator.handler import MAX_LOOP_SECONDS, loop_seconds
from tests.infra.conftest import NO_BUNDLING
from tests.infra.template_queries import function, role_actions

ALLOCATOR = "lambdas.allocator.handler.lambda_handler"


def _table_arn(template: Template) -> dict[str, Any]:
    (table_id,) = template.find_resources("AWS::DynamoDB::GlobalTable")
    return {"Fn::GetAtt": [table_id, "Arn"]}


def _schedules(template: Template) -> dict[str, str]:
    """Each rule target's ARN (as JSON) -> the rule's schedule."""
    rules = template.find_resources("AWS::Events::Rule")
    return {
        json.dumps(t["Arn"]): r["Properties"]["ScheduleExpression"]
        for r in rules.values()
        for t in r["Properties"]["Targets"]
    }


def test_allocator_is_restarted_every_minute_and_outlives_its_loop(template: Template) -> None:
    allocator_id, allocator = function(template, ALLOCATOR)
    assert _schedules(template)[json.dumps({"Fn::GetAtt": [allocator_id, "Arn"]})] == "rate(1 minute)"
    props = allocator["Properties"]
    assert (props["Timeout"], props["MemorySize"]) == (70, 512)
    # A run loops at most 55 s and stops 5 s before its deadline: it ends before Lambda's timeout cuts it.
    assert props["Timeout"] - 5 > MAX_LOOP_SECONDS
    # Overlapping runs are safe (the lease fences every write): no reserved concurrency is needed.
    assert "ReservedConcurrentExecutions" not in props


def test_allocator_schedule_is_the_allocator_schedule_context_key() -> None:
    app = cdk.App(context={**NO_BUNDLING, "koipond:allocatorSchedule": "rate(2 minutes)"})
    stack = cdk.Stack(app, "AllocatorOnly")
    table = dynamodb.TableV2(
        stack, "Table", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
    )
    Allocator(stack, "Allocator", config=StageConfig.from_node(app.node), table=table)
    (rule,) = Template.from_stack(stack).find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(2 minutes)"


def test_allocator_reads_only_the_table_name_and_region(template: Template) -> None:
    (table_id,) = template.find_resources("AWS::DynamoDB::GlobalTable")
    _, allocator = function(template, ALLOCATOR)
    env = allocator["Properties"]["Environment"]["Variables"]
    assert env == {envvars.TABLE_NAME: {"Ref": table_id}, envvars.AWS_REGION: {"Ref": "AWS::Region"}}


def test_allocator_may_read_and_write_only_the_items_of_its_passes(template: Template) -> None:
    _, allocator = function(template, ALLOCATOR)
    allowed = role_actions(template, allocator)
    assert {a.split(":")[0] for a in allowed} == {"dynamodb", "xray"}
    table = _table_arn(template)
    index = {"Fn::Join": ["", [table, "/index/gsi1"]]}
    dynamo = {action: resources for action, resources in allowed.items() if action.startswith("dynamodb:")}
    assert dynamo == {
        "dynamodb:UpdateItem": [table],
        "dynamodb:GetItem": [table],
        "dynamodb:BatchGetItem": [table],
        "dynamodb:Query": [table, index],
        "dynamodb:ConditionCheckItem": [table],
        "dynamodb:PutItem": [table],
    }


def test_allocator_may_not_delete_scan_or_batch_write(template: Template) -> None:
    _, allocator = function(template, ALLOCATOR)
    allowed = set(role_actions(template, allocator))
    assert not allowed & {"dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable"}
    assert not any(action.endswith("*") for action in allowed)


@pytest.mark.parametrize(
    ("remaining_millis", "seconds"),
    [(70_000, MAX_LOOP_SECONDS), (60_000, MAX_LOOP_SECONDS), (20_000, 15.0), (8_000, 3.0), (4_000, 0.0)],
)
def test_a_run_loops_until_five_seconds_before_its_deadline_and_at_most_55_s(
    remaining_millis: int, seconds: float
) -> None:
    assert loop_seconds(remaining_millis) == pytest.approx(seconds)
