"""The shutdown guard on AWS: a Lambda an EventBridge schedule runs (every minute by default)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from cdk.config import StageConfig
from cdk.functions import koipond_function, run_on_schedule
from koipond import envvars


def guard_environment(config: StageConfig, table: dynamodb.ITableV2) -> dict[str, str]:
    """The table and the guard's Prometheus: the release tick reads the same (its steps check the guard)."""
    environment = {envvars.TABLE_NAME: table.table_name}
    if config.prometheus_url:
        environment[envvars.PROMETHEUS_URL] = config.prometheus_url
    return environment


class ShutdownGuard(Construct):
    """Evaluates the guard queries against Prometheus on ``koipond:guardSchedule``."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, table: dynamodb.ITableV2) -> None:
        super().__init__(scope, construct_id)
        self.function = koipond_function(
            self,
            "Function",
            lambda_name="shutdown_guard",
            handler="lambda_handler",
            environment=guard_environment(config, table),
            # Shorter than the schedule's period, so two evaluations never overlap.
            timeout=Duration.seconds(50),
            log_retention_days=config.log_retention_days,
        )
        table.grant_read_write_data(self.function)
        self.rule = run_on_schedule(
            self,
            "Schedule",
            self.function,
            expression=config.guard_schedule,
            description="Run the koipond shutdown guard.",
        )
