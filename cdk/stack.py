"""The koipond stack: table, token storage and pipeline, Keeper API, shutdown guard, Slack secret."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk.config import StageConfig
from cdk.guard import ShutdownGuard
from cdk.keeper_api import KeeperApi
from cdk.nag import suppress_reviewed_findings
from cdk.table import KeeperTable
from cdk.token_pipeline import TokenPipeline
from cdk.token_storage import TokenStorage


class KoipondStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.keeper_table = KeeperTable(self, "KeeperTable", table_name=config.table_name)
        table = self.keeper_table.table
        self.token_storage = TokenStorage(
            self, "TokenStorage", kms_alias=config.token_kms_alias, bucket_name=config.token_bucket_name
        )
        self.tokens = TokenPipeline(self, "TokenPipeline", config=config, table=table, storage=self.token_storage)
        self.keeper = KeeperApi(
            self, "Keeper", config=config, table=table, queues=self.tokens.queues, storage=self.token_storage
        )
        self.guard = ShutdownGuard(self, "ShutdownGuard", config=config, table=table)
        self.slack_webhook = secretsmanager.Secret(
            self,
            "SlackWebhookUrl",
            secret_name=f"koipond/{config.stage}/slack-webhook-url",
            description="Slack workflow webhook URL for koipond notifications (put the real URL here).",
            removal_policy=RemovalPolicy.RETAIN,
        )
        CfnOutput(self, "TableName", value=table.table_name)
        CfnOutput(self, "ApiUrl", value=self.keeper.url, description="KOIPOND_KEEPER_URL for clients and Schools")
        CfnOutput(self, "ConsoleUrl", value=f"{self.keeper.url}console", description="The Keeper's web console")
        CfnOutput(self, "TokenBucketName", value=self.token_storage.bucket.bucket_name)
        CfnOutput(self, "SlackWebhookSecretArn", value=self.slack_webhook.secret_arn)
        suppress_reviewed_findings(self)
