"""The token shard store's contract, on S3 with KMS and in memory: one document per workspace and shard."""

from __future__ import annotations

from datetime import timedelta

import pytest

from koipond.aws_clients import AwsClients
from koipond.clock import FixedClock
from koipond.tokens.memory import InMemoryTokenShardStore
from koipond.tokens.models import ShardDocument, shard_key
from koipond.tokens.ports import TokenShardStore
from tests.contract.fixtures_tokens import IMPLEMENTATIONS, token_settings


@pytest.fixture(params=IMPLEMENTATIONS)
def shards(request: pytest.FixtureRequest) -> TokenShardStore:
    if request.param == "memory":
        return InMemoryTokenShardStore()
    from koipond.tokens.shards import S3TokenShardStore

    settings = token_settings(request)
    return S3TokenShardStore(AwsClients(settings), settings.token_bucket, settings.token_kms_alias)


def document(clock: FixedClock, job_id: str = "tj-1", shard: int = 3) -> ShardDocument:
    return ShardDocument(
        workspace="pond",
        shard=shard,
        tokens={shard * 100 + i: f"xoxp-{job_id}-{i}" for i in range(100)},
        minted_at=clock.now(),
        expires_at=clock.now() + timedelta(hours=1),
        job_id=job_id,
    )


def test_a_stored_shard_reads_back_whole_under_its_key(shards: TokenShardStore, clock: FixedClock) -> None:
    stored = document(clock)

    assert shards.put(stored) == shard_key("pond", 3)

    assert shards.get("pond", 3) == stored
    assert shards.stored_by("pond", 3) == "tj-1"


def test_a_shard_never_stored_is_none(shards: TokenShardStore, clock: FixedClock) -> None:
    shards.put(document(clock))

    assert shards.get("pond", 4) is None
    assert shards.stored_by("pond", 4) is None
    assert shards.stored_by("other", 3) is None


def test_a_later_job_replaces_the_shard_and_names_itself(shards: TokenShardStore, clock: FixedClock) -> None:
    shards.put(document(clock, "tj-1"))
    clock.advance(60)
    renewed = document(clock, "tj-2")

    shards.put(renewed)

    assert shards.stored_by("pond", 3) == "tj-2"
    assert shards.get("pond", 3) == renewed
