"""The synthesized table matches the store's layout and is safe to keep forever."""

from __future__ import annotations

from aws_cdk import assertions

from koipond.store import schema


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
