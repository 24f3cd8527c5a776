"""The token job repository's contract, on DynamoDB and in memory: each batch moves its job's counters exactly once."""

from __future__ import annotations

import pytest

from koipond.clock import FixedClock
from koipond.errors import ConflictError, NotFoundError
from koipond.tokens.memory import InMemoryTokenJobRepository
from koipond.tokens.models import ShardStatus, TokenJobStatus
from koipond.tokens.ports import TokenJobRepository
from tests.contract.fixtures_tokens import IMPLEMENTATIONS, dynamo_table, new_job


@pytest.fixture(params=IMPLEMENTATIONS)
def jobs(request: pytest.FixtureRequest) -> TokenJobRepository:
    if request.param == "memory":
        return InMemoryTokenJobRepository()
    from koipond.tokens.job_store import DynamoTokenJobRepository

    return DynamoTokenJobRepository(dynamo_table(request))


def test_a_stored_job_reads_back_as_it_was_made(jobs: TokenJobRepository, clock: FixedClock) -> None:
    job = new_job(clock, batches_queued=0)
    jobs.create(job)

    assert jobs.get("tj-1") == job
    assert jobs.get("tj-1").status is TokenJobStatus.PLANNING
    with pytest.raises(NotFoundError):
        jobs.get("tj-missing")


def test_a_job_id_is_stored_once(jobs: TokenJobRepository, clock: FixedClock) -> None:
    jobs.create(new_job(clock))
    with pytest.raises(ConflictError):
        jobs.create(new_job(clock, created_by="someone else"))
    assert jobs.get("tj-1").created_by == "operator"


def test_jobs_are_listed_newest_first(jobs: TokenJobRepository, clock: FixedClock) -> None:
    for job_id in ("tj-a", "tj-b", "tj-c"):
        jobs.create(new_job(clock, job_id))
        clock.advance(1)
    assert [job.id for job in jobs.list_jobs()] == ["tj-c", "tj-b", "tj-a"]


def test_a_batch_done_twice_counts_once(jobs: TokenJobRepository, clock: FixedClock) -> None:
    jobs.create(new_job(clock))
    at = clock.now()

    assert jobs.mark_done("tj-1", 0, at) is True
    assert jobs.mark_done("tj-1", 0, clock.now()) is False

    job = jobs.get("tj-1")
    assert (job.batches_done, job.batches_failed) == (1, 0)
    shard = jobs.get_shard("tj-1", 0)
    assert (shard.status, shard.updated_at) == (ShardStatus.DONE, at)


def test_every_batch_done_makes_the_job_done(jobs: TokenJobRepository, clock: FixedClock) -> None:
    jobs.create(new_job(clock, batches=3))
    for shard in (2, 0, 1, 0, 2):
        jobs.mark_done("tj-1", shard, clock.now())
    job = jobs.get("tj-1")
    assert (job.batches_done, job.status) == (3, TokenJobStatus.DONE)
    assert [p.shard for p in jobs.list_shards("tj-1")] == [0, 1, 2]


def test_failed_attempts_count_and_only_the_final_one_fails_the_batch(
    jobs: TokenJobRepository, clock: FixedClock
) -> None:
    jobs.create(new_job(clock))

    assert jobs.record_failure("tj-1", 1, "boom 1", clock.now(), final=False) is False
    assert jobs.get_shard("tj-1", 1).status is ShardStatus.PENDING
    assert jobs.record_failure("tj-1", 1, "boom 2", clock.now(), final=True) is True
    assert jobs.record_failure("tj-1", 1, "boom 3", clock.now(), final=True) is False  # already failed

    shard = jobs.get_shard("tj-1", 1)
    assert (shard.status, shard.attempts, shard.last_error) == (ShardStatus.FAILED, 3, "boom 3")
    job = jobs.get("tj-1")
    assert (job.batches_failed, job.last_error) == (1, "boom 3")


def test_a_failure_after_a_batch_is_done_leaves_it_done(jobs: TokenJobRepository, clock: FixedClock) -> None:
    jobs.create(new_job(clock))
    jobs.mark_done("tj-1", 0, clock.now())

    assert jobs.record_failure("tj-1", 0, "late duplicate", clock.now(), final=True) is False

    assert jobs.get_shard("tj-1", 0).status is ShardStatus.DONE
    job = jobs.get("tj-1")
    assert (job.batches_done, job.batches_failed) == (1, 0)


def test_a_failed_batch_that_succeeds_after_a_redrive_moves_from_failed_to_done(
    jobs: TokenJobRepository, clock: FixedClock
) -> None:
    jobs.create(new_job(clock, batches=1))
    jobs.record_failure("tj-1", 0, "boom", clock.now(), final=True)
    assert jobs.get("tj-1").status is TokenJobStatus.FAILED

    assert jobs.mark_done("tj-1", 0, clock.now()) is True

    job = jobs.get("tj-1")
    assert (job.batches_done, job.batches_failed, job.status) == (1, 0, TokenJobStatus.DONE)


def test_a_redrive_takes_a_failure_back_once(jobs: TokenJobRepository, clock: FixedClock) -> None:
    jobs.create(new_job(clock))
    jobs.record_failure("tj-1", 2, "boom", clock.now(), final=True)

    assert jobs.reset_failed("tj-1", 2, clock.now()) is True
    assert jobs.reset_failed("tj-1", 2, clock.now()) is False
    assert jobs.reset_failed("tj-1", 0, clock.now()) is False  # never failed

    assert jobs.get("tj-1").batches_failed == 0
    assert jobs.get_shard("tj-1", 2).status is ShardStatus.PENDING
    assert jobs.mark_done("tj-1", 2, clock.now()) is True
    assert jobs.get("tj-1").batches_done == 1


def test_progress_of_batches_without_an_outcome_is_pending(jobs: TokenJobRepository, clock: FixedClock) -> None:
    jobs.create(new_job(clock))
    jobs.record_failure("tj-1", 1, "boom", clock.now(), final=False)

    found = jobs.get_shards([("tj-1", 0), ("tj-1", 1)])

    assert found[("tj-1", 0)].status is ShardStatus.PENDING
    assert (found[("tj-1", 0)].attempts, found[("tj-1", 1)].attempts) == (0, 1)
    assert found[("tj-1", 1)].last_error == "boom"


def test_batches_of_a_missing_job_are_not_counted(jobs: TokenJobRepository, clock: FixedClock) -> None:
    with pytest.raises(NotFoundError):
        jobs.mark_done("tj-missing", 0, clock.now())
    with pytest.raises(NotFoundError):
        jobs.record_failure("tj-missing", 0, "boom", clock.now(), final=True)
    with pytest.raises(NotFoundError):
        jobs.set_last_error("tj-missing", "boom")
    assert jobs.reset_failed("tj-missing", 0, clock.now()) is False
    assert jobs.list_shards("tj-missing") == []


def test_a_job_is_renewed_once(jobs: TokenJobRepository, clock: FixedClock) -> None:
    old = new_job(clock, "tj-old")
    jobs.create(old)

    jobs.create(new_job(clock, "tj-new", renews="tj-old"), renews=old)
    with pytest.raises(ConflictError):
        jobs.create(new_job(clock, "tj-newer"), renews=old)

    assert jobs.get("tj-old").renewed_by == "tj-new"
    assert jobs.get("tj-new").renews == "tj-old"
    with pytest.raises(NotFoundError):
        jobs.get("tj-newer")
    assert [job.id for job in jobs.list_jobs()] == ["tj-new", "tj-old"]  # newest first


def test_the_plan_cursor_moves_once_from_the_value_a_step_read(jobs: TokenJobRepository, clock: FixedClock) -> None:
    jobs.create(new_job(clock, batches=5, batches_queued=0))

    assert jobs.advance_plan("tj-1", 0, 2) is True
    assert jobs.advance_plan("tj-1", 0, 2) is False  # a duplicate of the same step
    assert jobs.advance_plan("tj-1", 2, 5) is True

    job = jobs.get("tj-1")
    assert (job.batches_queued, job.status) == (5, TokenJobStatus.RUNNING)
    assert jobs.advance_plan("tj-missing", 0, 1) is False


def test_a_final_plan_failure_fails_the_job_until_a_redrive_clears_it(
    jobs: TokenJobRepository, clock: FixedClock
) -> None:
    jobs.create(new_job(clock, batches=5, batches_queued=2))

    assert jobs.record_plan_failure("tj-1", "sqs down", final=False) is False
    assert jobs.get("tj-1").status is TokenJobStatus.PLANNING
    assert jobs.record_plan_failure("tj-1", "sqs still down", final=True) is True
    job = jobs.get("tj-1")
    assert (job.status, job.last_error) == (TokenJobStatus.FAILED, "sqs still down")

    assert jobs.clear_plan_failure("tj-1") is True
    assert jobs.clear_plan_failure("tj-1") is False
    assert jobs.get("tj-1").status is TokenJobStatus.PLANNING


def test_a_late_plan_failure_of_a_fully_queued_job_only_notes_the_error(
    jobs: TokenJobRepository, clock: FixedClock
) -> None:
    jobs.create(new_job(clock, batches=2))

    assert jobs.record_plan_failure("tj-1", "duplicate step failed", final=True) is False

    job = jobs.get("tj-1")
    assert (job.plan_failed, job.last_error) == (False, "duplicate step failed")
    with pytest.raises(NotFoundError):
        jobs.record_plan_failure("tj-missing", "boom", final=True)
