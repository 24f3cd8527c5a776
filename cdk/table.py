"""The Keeper's DynamoDB table: the single-table layout of ``koipond.store.schema``, made durable."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from koipond.store import schema


class KeeperTable(Construct):
    """On-demand, point-in-time recovery, TTL on School heartbeats, deletion-protected and retained."""

    def __init__(self, scope: Construct, construct_id: str, *, table_name: str) -> None:
        super().__init__(scope, construct_id)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=schema.PK, type=string),
            sort_key=dynamodb.Attribute(name=schema.SK, type=string),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            # The table is the platform's memory: a stack deletion must never take it along.
            removal_policy=RemovalPolicy.RETAIN,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=schema.GSI1,
                    partition_key=dynamodb.Attribute(name=schema.GSI1_PK, type=string),
                    sort_key=dynamodb.Attribute(name=schema.GSI1_SK, type=string),
                )
            ],
        )
