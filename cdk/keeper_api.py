"""The Keeper on AWS: an HTTP API (throttled, access-logged) in front of one Lambda."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.config import StageConfig
from cdk.functions import koipond_function
from cdk.token_pipeline import TokenQueues, token_environment
from cdk.token_storage import TokenStorage

# One line per request; no Authorization header or body is ever logged.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "method": "$context.httpMethod",
    "route": "$context.routeKey",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
}


class KeeperApi(Construct):
    """``$default`` route to the Keeper Lambda; auth is the Keeper's own bearer keys."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        table: dynamodb.ITableV2,
        queues: TokenQueues,
        storage: TokenStorage,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = koipond_function(
            self,
            "Function",
            lambda_name="keeper_api",
            handler="lambda_handler",
            environment={**token_environment(config, table, storage, queues), **config.behavior_source_environment()},
            # API Gateway gives up after 30 s; a poll is answered in well under a second.
            timeout=Duration.seconds(29),
            log_retention_days=config.log_retention_days,
        )
        table.grant_read_write_data(self.function)
        queues.grant_keeper(self.function)
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            description="koipond Keeper",
            default_integration=integrations.HttpLambdaIntegration("Keeper", self.function),
        )
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        stage = self.http_api.default_stage
        assert stage is not None
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigw.CfnStage)
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn, format=json.dumps(ACCESS_LOG_FORMAT)
        )
        cfn_stage.default_route_settings = apigw.CfnStage.RouteSettingsProperty(
            throttling_rate_limit=config.api_throttle_rate, throttling_burst_limit=config.api_throttle_burst
        )

    @property
    def url(self) -> str:
        url = self.http_api.url
        assert url is not None
        return url
