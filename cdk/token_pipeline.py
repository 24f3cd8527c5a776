"""The token pipeline on AWS: job queue + DLQ (alarmed), the SQS worker and the renewal schedule."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.config import StageConfig
from cdk.functions import koipond_function, run_on_schedule
from cdk.token_storage import TokenStorage
from koipond import envvars

# The worker must finish (or hand a record back) before the message reappears to another worker.
VISIBILITY_TIMEOUT = Duration.seconds(60)
WORKER_TIMEOUT = Duration.seconds(50)
# SQS's longest retention: a failed batch waits up to 14 days for a redrive.
DLQ_RETENTION = Duration.days(14)


class TokenQueues(Construct):
    """The job queue and its DLQ; the DLQ allows redrives back to that queue only."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.dlq = self._queue("DeadLetterQueue", config.token_dlq_name, retention_period=DLQ_RETENTION)
        self.queue = self._queue(
            "Queue",
            config.token_queue_name,
            visibility_timeout=VISIBILITY_TIMEOUT,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=config.max_receive_count),
        )
        cfn_dlq = self.dlq.node.default_child
        assert isinstance(cfn_dlq, sqs.CfnQueue)
        # Built from the queue's name: referencing the queue itself would be a cycle (it names the DLQ).
        source_arn = Stack.of(self).format_arn(service="sqs", resource=config.token_queue_name)
        cfn_dlq.redrive_allow_policy = {"redrivePermission": "byQueue", "sourceQueueArns": [source_arn]}
        self.dlq_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterQueueNotEmpty",
            alarm_description="Token batches failed every retry; `koipond tokens dlq` shows why, redrive reprocesses.",
            metric=self.dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(5)),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _queue(self, construct_id: str, queue_name: str, **props: Any) -> sqs.Queue:
        """A queue of the pipeline: encrypted at rest (SQS-managed keys), refusing any request without TLS."""
        return sqs.Queue(
            self,
            construct_id,
            queue_name=queue_name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            **props,
        )

    def environment(self) -> dict[str, str]:
        return {envvars.TOKEN_QUEUE_NAME: self.queue.queue_name, envvars.TOKEN_DLQ_NAME: self.dlq.queue_name}

    def grant_keeper(self, grantee: iam.IGrantable) -> None:
        """Enqueue jobs, peek and redrive the DLQ (StartMessageMoveTask, or receive-send-delete)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sqs:GetQueueUrl",
                    "sqs:GetQueueAttributes",
                    "sqs:SendMessage",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:StartMessageMoveTask",
                ],
                resources=[self.queue.queue_arn, self.dlq.queue_arn],
            )
        )

    def grant_enqueue(self, grantee: iam.IGrantable) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SendMessage"],
                resources=[self.queue.queue_arn],
            )
        )


def token_environment(
    config: StageConfig, table: dynamodb.ITableV2, storage: TokenStorage, queues: TokenQueues
) -> dict[str, str]:
    """What the Keeper and the token Lambdas share: the table, the token store, the queues, the mint origins.

    The Keeper refuses token jobs whose target is not an allowed mint origin; the worker re-checks every
    job's target before the mint token leaves with a request.
    """
    return {
        envvars.TABLE_NAME: table.table_name,
        envvars.TOKEN_BUCKET: storage.bucket.bucket_name,
        envvars.TOKEN_KMS_ALIAS: storage.alias.alias_name,
        **queues.environment(),
        **config.mint_origins_environment(),
    }


class TokenPipeline(Construct):
    """Worker (SQS, partial batch failures) and renewal (EventBridge cron) Lambdas over the queues."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        table: dynamodb.ITableV2,
        storage: TokenStorage,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queues = TokenQueues(self, "Queues", config=config)
        environment = token_environment(config, table, storage, self.queues)
        self.worker = koipond_function(
            self,
            "Worker",
            lambda_name="token_worker",
            handler="lambda_handler",
            environment=environment,
            timeout=WORKER_TIMEOUT,
            log_retention_days=config.log_retention_days,
        )
        self.worker.add_event_source(
            sources.SqsEventSource(self.queues.queue, batch_size=10, report_batch_item_failures=True)
        )
        # Failed records get their own visibility timeouts (the backoff); reading the redrive policy tells
        # the worker which receive is the last.
        self.worker.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                resources=[self.queues.queue.queue_arn],
            )
        )
        table.grant_read_write_data(self.worker)
        storage.grant_shard_writes(self.worker)

        self.renewer = koipond_function(
            self,
            "Renewer",
            lambda_name="token_worker",
            handler="schedule_handler",
            environment=environment,
            timeout=Duration.minutes(5),
            log_retention_days=config.log_retention_days,
        )
        table.grant_read_write_data(self.renewer)
        self.queues.grant_enqueue(self.renewer)
        self.renew_rule = run_on_schedule(
            self,
            "RenewSchedule",
            self.renewer,
            expression=config.token_renew_schedule,
            description="Re-enqueue token jobs whose tokens expire soon.",
            retry_attempts=2,
        )

    @property
    def functions(self) -> list[lambda_.Function]:
        return [self.worker, self.renewer]
