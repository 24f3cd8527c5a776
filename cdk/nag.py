"""cdk-nag findings reviewed and accepted, each with the reason a reviewer signed off on."""

from __future__ import annotations

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions

# Each suppression names the exact finding (``applies_to``) where the rule reports several.
REVIEWED = [
    NagPackSuppression(
        id="AwsSolutions-L1",
        reason="The code targets Python 3.11 (requires-python, the School image and the wheels bundled for "
        "Lambda); the runtime moves with the project's Python, not ahead of it.",
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM4",
        reason="AWSLambdaBasicExecutionRole grants only CloudWatch Logs CreateLogGroup/CreateLogStream/PutLogEvents.",
        applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason="X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (tracing only).",
        applies_to=["Resource::*"],
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason="The Keeper's store queries GSI1 of its own table; index/* is scoped to that table's ARN.",
        applies_to=["Resource::<KeeperTable4FB0F7DB.Arn>/index/*"],
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason="Shards are tokens/{workspace}/{shard}.json, one object per batch: the prefix is the scope.",
        applies_to=["Resource::<TokenStorageBucketE8399F55.Arn>/tokens/*"],
    ),
    NagPackSuppression(
        id="AwsSolutions-APIG4",
        reason="The Keeper authenticates every route except /healthz itself (hashed bearer API keys with roles, "
        "koipond.services.auth); Schools and deploy tools call it with those keys, not IAM or Cognito.",
    ),
    NagPackSuppression(
        id="AwsSolutions-SMG4",
        reason="A Slack workflow webhook URL is issued by Slack; no rotation Lambda can mint a new one.",
    ),
]


def suppress_reviewed_findings(stack: Stack) -> None:
    """Stack-wide: every finding above is the same wherever it appears (runtime, tracing, table index)."""
    NagSuppressions.add_stack_suppressions(stack, REVIEWED)
