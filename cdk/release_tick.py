"""The release tick on AWS: a Lambda an EventBridge schedule runs (rollouts, behavior sources, notifications)."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk.config import StageConfig
from cdk.functions import koipond_function, run_on_schedule
from cdk.guard import guard_environment
from cdk.secrets import PlatformSecrets
from cdk.token_pipeline import TokenQueues
from koipond import envvars
from koipond.models.behavior_source import parse_locations


class ReleaseTick(Construct):
    """Runs every due release step once per ``koipond:releaseTickSchedule``; reads the guard's Prometheus."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        table: dynamodb.ITableV2,
        queues: TokenQueues,
        notifications: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = koipond_function(
            self,
            "Function",
            lambda_name="release_tick",
            handler="lambda_handler",
            environment={
                **guard_environment(config, table),
                envvars.TOKEN_DLQ_NAME: queues.dlq.queue_name,
                **config.behavior_source_environment(),
            },
            # Shorter than the schedule's period, so two ticks never overlap.
            timeout=Duration.seconds(50),
            log_retention_days=config.log_retention_days,
        )
        table.grant_read_write_data(self.function)
        # The DLQ's depth only (the URL is looked up by name): a tick never reads or moves a message.
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:GetQueueUrl", "sqs:GetQueueAttributes"], resources=[queues.dlq.queue_arn])
        )
        # Usage exports of behavior sources: read-only, and only under the configured locations.
        locations = parse_locations(config.behavior_source_locations)
        if locations:
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[f"arn:{Aws.PARTITION}:s3:::{loc.bucket}/{loc.prefix}*" for loc in locations],
                )
            )
        PlatformSecrets.let_read(notifications, self.function, envvars.NOTIFICATION_SECRET)
        self.rule = run_on_schedule(
            self,
            "Schedule",
            self.function,
            expression=config.release_tick_schedule,
            description="Run the koipond release tick.",
        )
