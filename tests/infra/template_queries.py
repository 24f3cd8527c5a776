"""Queries over a synthesized template shared by the infra tests: a function by handler, what its role may do."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template


def function(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    assert len(functions) == 1, handler
    logical_id, props = next(iter(functions.items()))
    return logical_id, dict(props)


def role_actions(template: Template, function_props: dict[str, Any]) -> dict[str, list[Any]]:
    """Every action the function's role policies allow, with the resources each is allowed on."""
    role_id = function_props["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy")
    allowed: dict[str, list[Any]] = {}
    for policy in policies.values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                allowed.setdefault(action, []).append(statement["Resource"])
    return allowed
