"""Token jobs in DynamoDB: each batch moves its job's counters exactly once, whatever arrives twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.errors import ConflictError, NotFoundError
from koipond.settings import Settings
from koipond.store.table import DynamoTable
from koipond.tokens.job_store import DynamoTokenJobRepository
from koipond.tokens.models import ShardStatus, TokenJob, TokenJobStatus


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


def test_a_batch_done_twice_counts_once(repo: DynamoTokenJobRepository, clock: FixedClock) -> None:
    repo.create(new_job(clock))

    assert repo.mark_done("tj-1", 0, clock.now()) is True
    assert repo.mark_done("tj-1", 0, clock.now()) is False

    job = repo.get("tj-1")
    assert (job.batches_done, job.batches_failed) == (1, 0)
    assert repo.get_shard("tj-1", 0).status is ShardStatus.DONE


def test_failed_attempts_count_and_only_the_final_one_fails_the_batch(
    repo: DynamoTokenJobRepository, clock: FixedClock
) -> None:
    repo.create(new_job(clock))

    assert repo.record_failure("tj-1", 1, "boom 1", clock.now(), final=False) is False
    assert repo.get_shard("tj-1", 1).status is ShardStatus.PENDING
    assert repo.record_failure("tj-1", 1, "boom 2", clock.now(), final=True) is True
    assert repo.record_failure("tj-1", 1, "boom 3", clock.now(), final=True) is False  # already failed

    shard = repo.get_shard("tj-1", 1)
    assert (shard.status, shard.attempts, shard.last_error) == (ShardStatus.FAILED, 3, "boom 3")
    job = repo.get("tj-1")
    assert (job.batches_failed, job.last_error) == (1, "boom 3")


def test_a_failed_batch_that_succeeds_after_a_redrive_moves_from_failed_to_done(
    repo: DynamoTokenJobRepository, clock: FixedClock
) -> None:
    repo.create(new_job(clock, batches=1))
    repo.record_failure("tj-1", 0, "boom", clock.now(), final=True)
    assert repo.get("tj-1").status is TokenJobStatus.FAILED

    assert repo.mark_done("tj-1", 0, clock.now()) is True

    job = repo.get("tj-1")
    assert (job.batches_done, job.batches_failed, job.status) == (1, 0, TokenJobStatus.DONE)


def test_a_redrive_takes_a_failure_back_once(repo: DynamoTokenJobRepository, clock: FixedClock) -> None:
    repo.create(new_job(clock))
    repo.record_failure("tj-1", 2, "boom", clock.now(), final=True)

    assert repo.reset_failed("tj-1", 2, clock.now()) is True
    assert repo.reset_failed("tj-1", 2, clock.now()) is False
    assert repo.reset_failed("tj-1", 0, clock.now()) is False  # never failed

    assert repo.get("tj-1").batches_failed == 0
    assert repo.get_shard("tj-1", 2).status is ShardStatus.PENDING
    assert repo.mark_done("tj-1", 2, clock.now()) is True
    assert repo.get("tj-1").batches_done == 1


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


def test_batches_of_a_missing_job_are_not_counted(repo: DynamoTokenJobRepository, clock: FixedClock) -> None:
    with pytest.raises(NotFoundError):
        repo.mark_done("tj-missing", 0, clock.now())
    with pytest.raises(NotFoundError):
        repo.record_failure("tj-missing", 0, "boom", clock.now(), final=True)
    assert repo.list_shards("tj-missing") == []


def test_a_job_is_renewed_once(repo: DynamoTokenJobRepository, clock: FixedClock) -> None:
    old = new_job(clock, "tj-old")
    repo.create(old)

    repo.create(new_job(clock, "tj-new").model_copy(update={"renews": "tj-old"}), renews=old)
    with pytest.raises(ConflictError):
        repo.create(new_job(clock, "tj-newer"), renews=old)

    assert repo.get("tj-old").renewed_by == "tj-new"
    assert repo.get("tj-new").renews == "tj-old"
    with pytest.raises(NotFoundError):
        repo.get("tj-newer")
    assert [job.id for job in repo.list_jobs()] == ["tj-new", "tj-old"]
