"""The koipond stack; grows one construct per concern (Keeper API, guard, tokens, Schools)."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.table import KeeperTable


class KoipondStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, table_name: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.keeper_table = KeeperTable(self, "KeeperTable", table_name=table_name)
        CfnOutput(self, "TableName", value=self.keeper_table.table.table_name)
