"""The synthesized table matches the store's layout and is safe to keep forever."""

from __future__ import annotations

import pytest
from aws_cdk import assertions

from cdk.app import build_app
from koipond.store import schema


@pytest.fixture(scope="module")
def template() -> assertions.Template:
    app = build_app()
    stack = app.node.find_child("koipond-dev")
    return assertions.Template.from_stack(stack)  # type: ignore[arg-type]


def test_table_keys_index_and_ttl_match_the_store(template: assertions.Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [
                {"AttributeName": schema.PK, "KeyType": "HASH"},
                {"AttributeName": schema.SK, "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                assertions.Match.object_like(
                    {
                        "IndexName": schema.GSI1,
                        "KeySchema": [
                            {"AttributeName": schema.GSI1_PK, "KeyType": "HASH"},
                            {"AttributeName": schema.GSI1_SK, "KeyType": "RANGE"},
                        ],
                    }
                )
            ],
            "TimeToLiveSpecification": {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True},
            "BillingMode": "PAY_PER_REQUEST",
        },
    )


def test_table_is_recoverable_protected_and_retained(template: assertions.Template) -> None:
    template.has_resource(
        "AWS::DynamoDB::GlobalTable",
        {
            "DeletionPolicy": "Retain",
            "Properties": assertions.Match.object_like(
                {
                    "Replicas": [
                        assertions.Match.object_like(
                            {
                                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                                "DeletionProtectionEnabled": True,
                            }
                        )
                    ]
                }
            ),
        },
    )
