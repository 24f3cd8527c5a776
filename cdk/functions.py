"""One way to build a koipond Lambda (local-bundled asset, Python 3.11, retained logs) and to run it on a schedule."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.bundling import lambda_code
from koipond import envvars

RUNTIME = lambda_.Runtime.PYTHON_3_11


def koipond_function(
    scope: Construct,
    construct_id: str,
    *,
    lambda_name: str,
    handler: str,
    environment: dict[str, str],
    timeout: Duration,
    log_retention_days: int,
    memory_size: int = 512,
) -> lambda_.Function:
    """A function running ``lambdas.<lambda_name>.handler.<handler>`` with the region and table in its env."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=_retention(log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    return lambda_.Function(
        scope,
        construct_id,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.X86_64,
        code=lambda_code(lambda_name),
        handler=f"lambdas.{lambda_name}.handler.{handler}",
        timeout=timeout,
        memory_size=memory_size,
        log_group=log_group,
        environment={envvars.AWS_REGION: Stack.of(scope).region, **environment},
        tracing=lambda_.Tracing.ACTIVE,
    )


def run_on_schedule(
    scope: Construct,
    construct_id: str,
    function: lambda_.IFunction,
    *,
    expression: str,
    description: str,
    retry_attempts: int = 0,
) -> events.Rule:
    """An EventBridge rule invoking ``function`` on ``expression`` (``rate(...)`` or ``cron(...)``).

    By default a failed run is not retried: the next scheduled run does the same work from fresh state.
    """
    return events.Rule(
        scope,
        construct_id,
        description=description,
        schedule=events.Schedule.expression(expression),
        targets=[targets.LambdaFunction(function, retry_attempts=retry_attempts)],
    )


_RETENTIONS = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def _retention(days: int) -> logs.RetentionDays:
    """Log retention snapped up to one of a few periods CloudWatch accepts."""
    return next((value for limit, value in sorted(_RETENTIONS.items()) if limit >= days), logs.RetentionDays.ONE_YEAR)
