"""The koipond stack: table, tokens, Keeper API, allocator, guard, release tick, secrets, Schools."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.allocator import Allocator
from cdk.config import StageConfig
from cdk.guard import ShutdownGuard
from cdk.keeper_api import KeeperApi
from cdk.nag import suppress_reviewed_findings
from cdk.release_tick import ReleaseTick
from cdk.schools import SchoolsOnEks
from cdk.secrets import PlatformSecrets
from cdk.table import KeeperTable
from cdk.token_pipeline import TokenPipeline
from cdk.token_storage import TokenStorage
from koipond import envvars

# The Keeper serves its web console under this path of the API.
CONSOLE_PATH = "ui/"


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
        console_url = f"{self.keeper.url}{CONSOLE_PATH}"
        self.secrets = PlatformSecrets(self, "Secrets", config=config, console_url=console_url)
        self._read_tokens_from_secrets()
        self.allocator = Allocator(self, "Allocator", config=config, table=table)
        self.guard = ShutdownGuard(self, "ShutdownGuard", config=config, table=table)
        self._let_notifiers_route()
        self.release_tick = ReleaseTick(
            self,
            "ReleaseTick",
            config=config,
            table=table,
            queues=self.tokens.queues,
            notifications=self.secrets.notifications,
        )
        self.schools = SchoolsOnEks(
            self, "Schools", config=config, storage=self.token_storage, keeper_url=self.keeper.url
        )
        CfnOutput(self, "TableName", value=table.table_name)
        CfnOutput(self, "ApiUrl", value=self.keeper.url, description="KOIPOND_KEEPER_URL for clients and Schools")
        CfnOutput(self, "ConsoleUrl", value=console_url, description="The Keeper's web console")
        CfnOutput(self, "TokenBucketName", value=self.token_storage.bucket.bucket_name)
        CfnOutput(self, "NotificationSecretArn", value=self.secrets.notifications.secret_arn)
        CfnOutput(self, "AdminTokenSecretArn", value=self.secrets.admin_token.secret_arn)
        CfnOutput(self, "TokenMintAdminTokenSecretArn", value=self.secrets.token_mint_admin_token.secret_arn)
        suppress_reviewed_findings(self, self.schools)

    def _let_notifiers_route(self) -> None:
        """The Keeper reads the notification routes (never delivers: the release tick does).

        The guard does not: its stops notify through their history events, which the release tick
        expands into one outbox item per route. The Keeper also reads Prometheus for the console's
        charts and to check deploy SLI settings, with the guard's cluster settings.
        """
        PlatformSecrets.let_read(self.secrets.notifications, self.keeper.function, envvars.NOTIFICATION_SECRET)
        if self.config.prometheus_url:
            self.keeper.function.add_environment(envvars.PROMETHEUS_URL, self.config.prometheus_url)

    def _read_tokens_from_secrets(self) -> None:
        """The Keeper bootstraps the admin key and the worker mints with tokens read at cold start."""
        secrets = self.secrets
        PlatformSecrets.let_read(secrets.admin_token, self.keeper.function, envvars.ADMIN_TOKEN_SECRET)
        worker = self.tokens.worker
        PlatformSecrets.let_read(secrets.token_mint_admin_token, worker, envvars.TOKEN_MINT_ADMIN_TOKEN_SECRET)
