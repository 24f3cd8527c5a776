"""The release tick's schedule, env and narrow IAM; tokens reach functions only through Secrets Manager."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

from koipond import envvars
from tests.infra.template_queries import function, role_actions

TICK = "lambdas.release_tick.handler.lambda_handler"
KEEPER = "lambdas.keeper_api.handler.lambda_handler"
WORKER = "lambdas.token_worker.handler.lambda_handler"
GUARD = "lambdas.shutdown_guard.handler.lambda_handler"
RENEWER = "lambdas.token_worker.handler.schedule_handler"


def _env(props: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = props["Properties"]["Environment"]["Variables"]
    return variables


def _secret_id(template: Template, name_suffix: str) -> str:
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    (logical_id,) = [lid for lid, r in secrets.items() if r["Properties"]["Name"].endswith(name_suffix)]
    return logical_id


def test_release_tick_runs_every_minute(template: Template) -> None:
    tick_id, _ = function(template, TICK)
    rules = template.find_resources("AWS::Events::Rule")
    targets = {
        json.dumps(t["Arn"]): r["Properties"]["ScheduleExpression"]
        for r in rules.values()
        for t in r["Properties"]["Targets"]
    }
    assert targets[json.dumps({"Fn::GetAtt": [tick_id, "Arn"]})] == "rate(1 minute)"


def test_release_tick_has_the_guard_env_the_dlq_and_the_notification_secret(template: Template) -> None:
    _, tick = function(template, TICK)
    _, guard = function(template, GUARD)
    env = _env(tick)
    assert set(_env(guard)) <= set(env)
    assert env[envvars.TOKEN_DLQ_NAME]
    assert env[envvars.NOTIFICATION_SECRET] == {"Ref": _secret_id(template, "/notifications")}


def test_release_tick_may_read_the_dlq_depth_and_its_secret_and_nothing_else(template: Template) -> None:
    _, tick = function(template, TICK)
    allowed = role_actions(template, tick)
    services = {action.split(":")[0] for action in allowed}
    assert services == {"dynamodb", "sqs", "secretsmanager", "xray"}
    assert {a for a in allowed if a.startswith("sqs:")} == {"sqs:GetQueueUrl", "sqs:GetQueueAttributes"}
    dlq = [lid for lid, r in template.find_resources("AWS::SQS::Queue").items() if "DeadLetter" in lid]
    assert allowed["sqs:GetQueueAttributes"] == [{"Fn::GetAtt": [dlq[0], "Arn"]}]
    assert allowed["secretsmanager:GetSecretValue"] == [{"Ref": _secret_id(template, "/notifications")}]


def test_only_the_keeper_reads_the_admin_token_and_only_the_worker_the_mint_token(template: Template) -> None:
    admin, mint = _secret_id(template, "/admin-token"), _secret_id(template, "/token-mint-admin-token")
    _, keeper = function(template, KEEPER)
    _, worker = function(template, WORKER)
    assert _env(keeper)[envvars.ADMIN_TOKEN_SECRET] == {"Ref": admin}
    assert _env(worker)[envvars.TOKEN_MINT_ADMIN_TOKEN_SECRET] == {"Ref": mint}
    notifications = {"Ref": _secret_id(template, "/notifications")}
    keeper_reads = role_actions(template, keeper)["secretsmanager:GetSecretValue"]
    assert sorted(map(str, keeper_reads)) == sorted(map(str, [{"Ref": admin}, notifications]))
    assert role_actions(template, worker)["secretsmanager:GetSecretValue"] == [{"Ref": mint}]
    _, guard = function(template, GUARD)
    assert not any(a.startswith("secretsmanager:") for a in role_actions(template, guard))
    _, renewer = function(template, RENEWER)
    assert not any(a.startswith("secretsmanager:") for a in role_actions(template, renewer))
    for handler in (GUARD, RENEWER):
        _, other = function(template, handler)
        assert not {envvars.ADMIN_TOKEN_SECRET, envvars.TOKEN_MINT_ADMIN_TOKEN_SECRET} & set(_env(other))


def test_the_keeper_reads_the_notification_routes_and_the_guard_does_not(template: Template) -> None:
    """The guard's stops notify through their history events; the release tick delivers them."""
    _, keeper = function(template, KEEPER)
    assert _env(keeper)[envvars.NOTIFICATION_SECRET] == {"Ref": _secret_id(template, "/notifications")}
    _, guard = function(template, GUARD)
    assert envvars.NOTIFICATION_SECRET not in _env(guard)


def test_generated_secrets_are_never_literal_and_all_are_retained(template: Template) -> None:
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    for logical_id in (_secret_id(template, "/admin-token"), _secret_id(template, "/token-mint-admin-token")):
        assert "SecretString" not in secrets[logical_id]["Properties"]
        assert secrets[logical_id]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert all(s["DeletionPolicy"] == "Retain" for s in secrets.values())


def test_notification_secret_starts_without_routes_and_points_at_its_docs(template: Template) -> None:
    secret = template.find_resources("AWS::SecretsManager::Secret")[_secret_id(template, "/notifications")]
    assert "docs/notifications.md" in secret["Properties"]["Description"]
    initial = "".join(p for p in secret["Properties"]["SecretString"]["Fn::Join"][1] if isinstance(p, str))
    assert initial.startswith('{"routes": [], "console_url": "https://')
    assert initial.endswith('/ui/"}')


def test_console_url_is_the_api_url_under_ui(template: Template) -> None:
    outputs = template.find_outputs("*")
    api, console = outputs["ApiUrl"]["Value"]["Fn::Join"][1], outputs["ConsoleUrl"]["Value"]["Fn::Join"][1]
    assert console[:-1] == api[:-1]
    assert (api[-1], console[-1]) == ("/", "/ui/")
