"""The synthesized stack wires the platform as designed: encryption, schedules, DLQ, IAM scope, env vars."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from koipond import envvars
from koipond.settings import Settings
from koipond.tokens.models import DEFAULT_MAX_RECEIVE_COUNT
from tests.infra.template_queries import function as _function
from tests.infra.template_queries import role_actions as _role_actions


def test_token_bucket_is_kms_encrypted_private_versioned(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": Match.any_value(),
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": Settings().token_kms_alias})


def test_token_bucket_policy_denies_plain_http_and_non_kms_uploads(template: Template) -> None:
    policies = template.find_resources("AWS::S3::BucketPolicy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    denies = {(s.get("Sid"), s["Action"], str(s["Condition"])) for s in statements if s["Effect"] == "Deny"}
    assert any("aws:SecureTransport" in c for _, _, c in denies)
    assert (
        "DenyUploadsNotEncryptedWithKms",
        "s3:PutObject",
        str({"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}),
    ) in denies
    assert (
        "DenyUploadsWithoutEncryptionHeader",
        "s3:PutObject",
        str({"Null": {"s3:x-amz-server-side-encryption": "true"}}),
    ) in denies


def test_token_queue_dead_letters_after_max_receives_and_dlq_allows_redrive_back(template: Template) -> None:
    settings = Settings()
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": settings.token_queue_name,
            "VisibilityTimeout": 60,
            "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": DEFAULT_MAX_RECEIVE_COUNT},
            "SqsManagedSseEnabled": True,
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": settings.token_dlq_name,
            "MessageRetentionPeriod": 14 * 86_400,
            "RedriveAllowPolicy": {"redrivePermission": "byQueue", "sourceQueueArns": [Match.any_value()]},
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )


def test_worker_reports_batch_item_failures_and_finishes_within_visibility_timeout(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 10},
    )
    _, worker = _function(template, "lambdas.token_worker.handler.lambda_handler")
    assert worker["Properties"]["Timeout"] < 60


def test_guard_and_renewal_run_on_schedules(template: Template) -> None:
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)", "State": "ENABLED"})
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": Match.string_like_regexp("^cron\\(")})
    _function(template, "lambdas.shutdown_guard.handler.lambda_handler")
    _function(template, "lambdas.token_worker.handler.schedule_handler")


def test_keeper_api_is_throttled_and_access_logged(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AccessLogSettings": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")},
            "DefaultRouteSettings": {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
        },
    )
    outputs = template.find_outputs("*")
    assert {"ApiUrl", "ConsoleUrl"} <= set(outputs)


def test_functions_read_their_settings_from_the_shared_env_var_names(template: Template) -> None:
    _, keeper = _function(template, "lambdas.keeper_api.handler.lambda_handler")
    _, worker = _function(template, "lambdas.token_worker.handler.lambda_handler")
    _, guard = _function(template, "lambdas.shutdown_guard.handler.lambda_handler")
    token_vars = {envvars.TOKEN_QUEUE_NAME, envvars.TOKEN_DLQ_NAME, envvars.TOKEN_BUCKET, envvars.TOKEN_KMS_ALIAS}
    for function in (keeper, worker):
        names = set(function["Properties"]["Environment"]["Variables"])
        assert {envvars.TABLE_NAME, envvars.AWS_REGION} | token_vars <= names
    guard_names = set(guard["Properties"]["Environment"]["Variables"])
    assert {envvars.TABLE_NAME, envvars.AWS_REGION} <= guard_names
    assert not token_vars & guard_names


def test_worker_may_touch_only_token_shards_and_the_key(template: Template) -> None:
    _, worker = _function(template, "lambdas.token_worker.handler.lambda_handler")
    allowed = _role_actions(template, worker)
    s3_actions = {a for a in allowed if a.startswith("s3:")}
    assert s3_actions == {"s3:PutObject", "s3:GetObject"}
    assert all("/tokens/*" in str(resource) for resource in allowed["s3:PutObject"] + allowed["s3:GetObject"])
    assert {a for a in allowed if a.startswith("kms:")} == {"kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"}
    assert "dynamodb:PutItem" in allowed
    assert not any(action.endswith("*") for action in allowed)


def test_keeper_may_redrive_but_not_read_tokens_and_guard_touches_only_the_table_and_routes(template: Template) -> None:
    _, keeper = _function(template, "lambdas.keeper_api.handler.lambda_handler")
    keeper_actions = _role_actions(template, keeper)
    assert {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:StartMessageMoveTask"} <= set(
        keeper_actions
    )
    assert len(keeper_actions["sqs:StartMessageMoveTask"][0]) == 2  # the queue and its DLQ
    assert not any(a.startswith(("s3:", "kms:")) for a in keeper_actions)
    _, guard = _function(template, "lambdas.shutdown_guard.handler.lambda_handler")
    # The guard reads the notification routes (to fill the outbox for an automatic shutdown), nothing else.
    assert {a.split(":")[0] for a in _role_actions(template, guard)} <= {"dynamodb", "xray", "secretsmanager"}
