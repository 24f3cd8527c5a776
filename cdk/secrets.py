"""The platform's Secrets Manager secrets: notification routes, the bootstrap admin token, the mint token."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk.config import StageConfig

ADMIN_TOKEN_LENGTH = 48


class PlatformSecrets(Construct):
    """Retained secrets, read by the functions whose env names them (``*_SECRET``), never put in env themselves."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, console_url: str) -> None:
        super().__init__(scope, construct_id)
        prefix = f"koipond/{config.stage}"
        self.notifications = secretsmanager.Secret(
            self,
            "Notifications",
            secret_name=f"{prefix}/notifications",
            description="The notification routes JSON (Slack webhook URLs per notification kind), "
            "see docs/notifications.md. Starts with no routes: notifications wait in the outbox as no_route.",
            # Not a credential: no routes yet, only where the web console is. Webhook URLs are added by hand.
            secret_string_value=SecretValue.unsafe_plain_text(json.dumps({"routes": [], "console_url": console_url})),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.admin_token = self._random_token(
            "AdminToken",
            f"{prefix}/admin-token",
            "The bootstrap admin bearer token: the Keeper stores its hash at cold start. "
            "Read it once to create named keys (koipond keys create), then revoke the bootstrap key.",
        )
        self.token_mint_admin_token = self._random_token(
            "TokenMintAdminToken",
            f"{prefix}/token-mint-admin-token",
            "Bearer token of the target service's admin.tokens.mint (the token worker sends it). "
            "Starts random: put the target's token here before the first token job.",
        )

    def _random_token(self, construct_id: str, name: str, description: str) -> secretsmanager.Secret:
        """A bearer token generated at deploy time (never in the template), kept when the stack goes."""
        return secretsmanager.Secret(
            self,
            construct_id,
            secret_name=name,
            description=description,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=ADMIN_TOKEN_LENGTH, exclude_punctuation=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )

    @staticmethod
    def let_read(secret: secretsmanager.ISecret, function: lambda_.Function, env_var: str) -> None:
        """Name ``secret`` in ``function``'s ``env_var`` and allow GetSecretValue on it alone.

        The secrets use the AWS managed key, so no kms grant is needed.
        """
        function.add_environment(env_var, secret.secret_arn)
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn])
        )
