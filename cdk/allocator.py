"""The allocator on AWS: a Lambda that loops allocation passes under a DynamoDB lease, restarted every minute."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk.config import StageConfig
from cdk.functions import koipond_function, run_on_schedule
from koipond import envvars
from koipond.store.schema import GSI1

# What one pass calls (koipond.services.allocator), by the IAM action that authorizes it. TransactWriteItems has
# no action of its own: IAM authorizes each Put and ConditionCheck inside a transaction separately.
TABLE_ACTIONS = [
    "dynamodb:UpdateItem",  # taking, renewing and releasing the lease (conditional on its holder and fence)
    "dynamodb:GetItem",  # the emergency stop; a test whose duration is over, before it is completed
    "dynamodb:BatchGetItem",  # the running tests, strongly consistent (the status index lags)
    "dynamodb:Query",  # every School's assignment (one partition), reloaded when a new lease is taken
    "dynamodb:ConditionCheckItem",  # in each assignment's transaction: the lease still names this holder and fence
    "dynamodb:PutItem",  # an assignment, a reallocation history event, a test completed at the end of its duration
]
# The status index: heartbeats (gsi1pk SCHOOLS) and running tests (gsi1pk TESTS#running), eventually consistent.
INDEX_ACTIONS = ["dynamodb:Query"]


class Allocator(Construct):
    """Runs ``lambdas.allocator`` on ``koipond:allocatorSchedule``; each run loops passes for up to 55 s.

    No reserved concurrency: two runs that overlap (a late schedule, the previous run's last seconds)
    are safe, because only the lease holder writes and every write is fenced by the lease's token.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, table: dynamodb.ITableV2) -> None:
        super().__init__(scope, construct_id)
        self.function = koipond_function(
            self,
            "Function",
            lambda_name="allocator",
            handler="lambda_handler",
            environment={envvars.TABLE_NAME: table.table_name},
            # The handler stops looping 5 s before its deadline and after at most 55 s, so runs end on their own.
            timeout=Duration.seconds(70),
            memory_size=512,
            log_retention_days=config.log_retention_days,
        )
        self.function.add_to_role_policy(iam.PolicyStatement(actions=TABLE_ACTIONS, resources=[table.table_arn]))
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=INDEX_ACTIONS, resources=[f"{table.table_arn}/index/{GSI1}"])
        )
        # A failed run is not retried: the next scheduled run (or the lease's next holder) takes over.
        self.rule = run_on_schedule(
            self,
            "Schedule",
            self.function,
            expression=config.allocator_schedule,
            description="Restart the koipond allocator's loop of allocation passes.",
        )
