"""Token job storage on DynamoDB beyond the port's contract (tests/contract): batches racing on one item."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.settings import Settings
from koipond.store.table import DynamoTable
from koipond.tokens.job_store import DynamoTokenJobRepository
from koipond.tokens.models import TokenJob


@pytest.fixture
def repo(settings: Settings, dynamodb: Any) -> DynamoTokenJobRepository:
    return DynamoTokenJobRepository(DynamoTable(dynamodb, settings.table_name))


def new_job(clock: FixedClock, job_id: str = "tj-1", batches: int = 3) -> TokenJob:
    now = clock.now()
    return TokenJob(
        id=job_id,
        workspace="pond",
        target="http://target.test",
        start=0,
        end=batches * 100,
        batches_total=batches,
        created_at=now,
        created_by="operator",
        expires_at=now + timedelta(days=1),
    )


def test_interleaved_duplicate_batches_count_exactly_once_each(
    repo: DynamoTokenJobRepository, clock: FixedClock
) -> None:
    # Sequential on purpose: moto applies transactions without a lock, so threads would test moto's
    # races (lost ADDs on the job item), not the conditions; real DynamoDB serializes or cancels them.
    repo.create(new_job(clock, batches=20))

    counted = [repo.mark_done("tj-1", shard, clock.now()) for shard in [*range(0, 20, 2), *range(20), *range(1, 20, 2)]]

    assert sum(counted) == 20
    assert repo.get("tj-1").batches_done == 20
    assert len(repo.list_shards("tj-1")) == 20
