r"""The single-table layout: key names, the index and TTL, and how to create the table.

Items (``pk`` / ``sk``; ``gsi1pk`` / ``gsi1sk`` where listed):

| item          | pk                 | sk                  | gsi1pk           | gsi1sk               |
|---------------|--------------------|---------------------|------------------|----------------------|
| load test     | ``TEST#<id>``      | ``META``            | ``TESTS#<status>``| ``<created_at>#<id>``|
| history event | ``HIST#<subject>`` | ``<at>#<event id>`` | ``NOTIFY-INTENTS`` * | ``<event id>`` *     |
| School        | ``SCHOOL#<id>``    | ``META``            | ``SCHOOLS``      | ``<id>``             |
| assignment    | ``ASSIGNMENTS``    | ``SCHOOL#<id>``     |                  |                      |
| allocator lease | ``ALLOCATOR``    | ``META``            |                  |                      |
| pond changes  | ``POND``           | ``CHANGES``         |                  |                      |
| emergency stop| ``ESTOP``          | ``META``            |                  |                      |
| API key       | ``KEY#<id>``       | ``META``            | ``KEYS``         | ``<id>``             |
| behavior      | ``BEHAVIOR#<name>``| ``V#<version:010>`` | ``BEHAVIORS``    | ``<name>#<version>`` |
| token job     | ``TOKENJOB#<id>``  | ``META``            | ``TOKENJOBS``    | ``<created_at>#<id>``|
| its batch     | ``TOKENJOB#<id>``  | ``SHARD#<n:07>``    |                  |                      |
| idempotency   | ``IDEMPOTENCY#token-worker`` | ``<key hash>`` |            |                      |
| deploy        | ``DEPLOY#<id>``    | ``META``            | ``DEPLOYS#<service>``| ``<at>#<id>``    |
| verdict queue | ``DEPLOYS_PENDING``| ``<soak end>#<id>`` |                  |                      |
| SLI settings  | ``DEPLOYSLIS#<service>`` | ``META``      | ``DEPLOYSLIS``   | ``<service>``        |
| notification  | ``NOTIFY#<event key>`` | ``ROUTE#<route>`` | ``NOTIFICATIONS#<status>`` | ``<time>#<key>#<route>`` |
| DLQ episode   | ``NOTIFY-EPISODE#<name>`` | ``META``       |                  |                      |
| rollout       | ``ROLLOUT#<id>``   | ``META``            | ``ROLLOUTS#<status>`` | ``<created_at>#<id>`` |
| test's rollout| ``TEST#<test id>`` | ``ROLLOUT``         |                  |                      |

\* only while the event waits to notify: the release tick expands it into outbox items, then removes both.

The index's partition key carries the test status, so listing running tests is one Query rather
than a Scan. School heartbeats carry ``expires_at`` (TTL) so dead Schools disappear by themselves;
liveness itself is computed from ``last_poll_at`` because TTL deletion can lag by days.
Assignments (one item per School) and the allocator's lease are described in :mod:`koipond.store.assignments`,
the counter that tells the allocator something changed in :mod:`koipond.store.pond_changes`.
Token batches are described in :mod:`koipond.tokens.job_store`; the token worker's Powertools
idempotency records share the table and expire through the same TTL attribute.
Deploys and the queue of deploys waiting for a verdict are described in :mod:`koipond.store.deploys`.
Notifications (the outbox) are described in :mod:`koipond.notifications.store`: one item per event
key and route, written once; pending ones sort by their next attempt (``<time>``), the others by
creation; they carry kind, text, fields, route name (never its URL), status, attempts and the last
outcome, and expire after 30 days.
Rollouts are described in :mod:`koipond.store.rollouts`: a versioned state item indexed by status (the
release tick lists the ``holding`` ones), plus a marker beside the test's item naming the one rollout
that drives the test (created with the rollout, deleted when it completes or aborts). Each transition
is a history event of subject ``<rollout id>``, written in the same transaction as the state (and the
test's scaling).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PK = "pk"
SK = "sk"
GSI1 = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
TTL_ATTRIBUTE = "expires_at"
VERSION = "version"
DOC = "doc"
META = "META"


def create_table(client: DynamoDBClient, table_name: str) -> bool:
    """Create the table with its index and TTL if it does not exist.

    Returns:
        True when the table was created, False when it already existed.
    """
    if table_name in client.list_tables()["TableNames"]:
        return False
    client.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in (PK, SK, GSI1_PK, GSI1_SK)],
        KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": GSI1_PK, "KeyType": "HASH"},
                    {"AttributeName": GSI1_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return True
