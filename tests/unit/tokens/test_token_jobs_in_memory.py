"""The token pipeline's services over the in-memory adapters: plan, mint, follow progress, the DLQ and redrives."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from koipond.clock import FixedClock
from koipond.errors import TokenMintError
from koipond.tokens.batches import TokenBatchWorker
from koipond.tokens.jobs import TokenJobService
from koipond.tokens.memory import InMemoryTokenJobRepository, InMemoryTokenQueue, InMemoryTokenShardStore
from koipond.tokens.mint_origins import MintOrigins
from koipond.tokens.models import SHARD_SIZE, PlanMessage, ShardDocument, ShardMessage, TokenJobStatus
from koipond.tokens.plans import TokenJobPlanner

TARGET = "http://target.test"
MAX_RECEIVES = 3


@dataclass
class FakeProvider:
    """Mints ``tok-<workspace>-<index>``, refusing the shards in ``poisoned``; counts the shards it minted."""

    poisoned: set[int] = field(default_factory=set)
    minted: list[int] = field(default_factory=list)

    def mint(self, workspace: str, target: str, indexes: Sequence[int]) -> dict[int, str]:
        shard = indexes[0] // SHARD_SIZE
        if shard in self.poisoned:
            raise TokenMintError(f"the provider refuses shard {shard}")
        self.minted.append(shard)
        return {i: f"tok-{workspace}-{i}" for i in indexes}


@dataclass
class Pond:
    clock: FixedClock
    jobs: InMemoryTokenJobRepository
    queue: InMemoryTokenQueue
    shards: InMemoryTokenShardStore
    provider: FakeProvider
    service: TokenJobService
    worker: TokenBatchWorker
    planner: TokenJobPlanner

    def drain(self, rounds: int = 200) -> None:
        """What Lambda's event source does: deliver, delete what succeeded, let failures back off."""
        for _ in range(rounds):
            received = self.queue.receive()
            if not received:
                if self.queue.depth() == (0, 0):
                    return
                self.clock.advance(31)  # past every backoff and visibility timeout of these settings
                continue
            for delivery in received:
                message = delivery.message
                try:
                    if isinstance(message, PlanMessage):
                        self.planner.process(message.model_dump())
                    elif isinstance(message, ShardMessage):
                        self.worker.process(message.model_dump())
                except Exception as exc:
                    self.worker.record_failure(message, delivery.receive_count, delivery.receipt_handle, exc)
                    continue
                self.queue.delete(delivery.receipt_handle)
        raise AssertionError("the queue never drained")


def build_pond(move_tasks: bool = False) -> Pond:
    clock = FixedClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    jobs, shards, provider = InMemoryTokenJobRepository(), InMemoryTokenShardStore(), FakeProvider()
    queue = InMemoryTokenQueue(clock, max_receive_count=MAX_RECEIVES, move_tasks=move_tasks)
    origins = MintOrigins.parse(TARGET)
    service = TokenJobService(jobs, queue, clock, 3600, origins, max_users_per_job=10_000, max_running_jobs=5)
    worker = TokenBatchWorker(
        jobs, queue, shards, provider, clock, random.Random(7), 3600, backoff_base_seconds=1, backoff_cap_seconds=8
    )
    planner = TokenJobPlanner(jobs, queue, origins, step_batches=2)
    return Pond(clock, jobs, queue, shards, provider, service, worker, planner)


@pytest.fixture
def pond() -> Pond:
    return build_pond()


def test_a_job_is_planned_in_steps_and_every_users_token_is_stored(pond: Pond) -> None:
    job = pond.service.create_job("pond", TARGET, 50, 480, "alice")
    assert (job.batches_total, pond.service.get_job(job.id).status) == (5, TokenJobStatus.PLANNING)

    pond.drain()

    done = pond.service.get_job(job.id)
    assert (done.status, done.batches_queued, done.batches_done, done.batches_failed) == (TokenJobStatus.DONE, 5, 5, 0)
    assert sorted(pond.provider.minted) == [0, 1, 2, 3, 4]
    stored = pond.shards.get("pond", 4)
    assert stored is not None
    assert (stored.tokens[499], stored.job_id) == ("tok-pond-499", job.id)
    assert [p.shard for p in pond.service.shards(job.id)] == [0, 1, 2, 3, 4]


def test_a_poisoned_batch_fails_its_job_and_a_redrive_completes_it(pond: Pond) -> None:
    pond.provider.poisoned.add(1)
    job = pond.service.create_job("pond", TARGET, 0, 300, "alice")

    pond.drain()

    failed = pond.service.get_job(job.id)
    assert (failed.status, failed.batches_done, failed.batches_failed) == (TokenJobStatus.FAILED, 2, 1)
    dlq = pond.service.dlq()
    assert dlq.depth == 1
    [sample] = dlq.sample
    assert (sample.job_id, sample.shard, sample.attempts) == (job.id, 1, MAX_RECEIVES)
    assert sample.last_error == "the provider refuses shard 1"

    pond.provider.poisoned.clear()
    result = pond.service.redrive("alice")
    assert (result.method, result.moved, result.shards_reset, result.remaining) == ("receive_send_delete", 1, 1, 0)
    assert pond.service.get_job(job.id).status is TokenJobStatus.RUNNING

    pond.drain()
    done = pond.service.get_job(job.id)
    assert (done.status, done.batches_done, done.batches_failed) == (TokenJobStatus.DONE, 3, 0)
    assert pond.service.dlq().depth == 0


def test_a_move_task_redrive_leaves_the_batch_failed_until_it_is_minted() -> None:
    pond = build_pond(move_tasks=True)
    pond.provider.poisoned.add(0)
    job = pond.service.create_job("pond", TARGET, 0, 100, "alice")
    pond.drain()
    pond.provider.poisoned.clear()

    result = pond.service.redrive("alice")

    assert (result.method, result.approximate_messages) == ("message_move_task", 1)
    assert pond.service.get_job(job.id).status is TokenJobStatus.FAILED
    pond.drain()
    done = pond.service.get_job(job.id)
    assert (done.status, done.batches_done, done.batches_failed) == (TokenJobStatus.DONE, 1, 0)


def test_a_batch_delivered_twice_is_minted_and_counted_once(pond: Pond) -> None:
    job = pond.service.create_job("pond", TARGET, 0, 100, "alice")
    batch = ShardMessage.whole_shard(job.id, "pond", TARGET, 0).model_dump()

    first, second = pond.worker.process(batch), pond.worker.process(batch)

    assert (first["outcome"], second["outcome"]) == ("minted", "already_done")
    assert pond.provider.minted == [0]
    assert pond.service.get_job(job.id).batches_done == 1


def test_a_stored_shard_whose_done_mark_was_lost_is_counted_without_minting(pond: Pond) -> None:
    job = pond.service.create_job("pond", TARGET, 0, 100, "alice")
    now = pond.clock.now()
    pond.shards.put(ShardDocument(workspace="pond", shard=0, tokens={0: "t"}, minted_at=now, job_id=job.id))

    outcome = pond.worker.process(ShardMessage.whole_shard(job.id, "pond", TARGET, 0).model_dump())

    assert outcome["outcome"] == "already_stored"
    assert pond.provider.minted == []
    assert pond.service.get_job(job.id).status is TokenJobStatus.DONE


def test_expiring_tokens_of_a_done_job_are_renewed_once(pond: Pond) -> None:
    job = pond.service.create_job("pond", TARGET, 0, 200, "alice")
    pond.drain()
    pond.clock.advance(3000)

    [renewal] = pond.service.reenqueue_expiring(900, "schedule")

    assert (renewal.renews, renewal.start, renewal.end) == (job.id, 0, 200)
    assert pond.service.get_job(job.id).renewed_by == renewal.id
    assert pond.service.reenqueue_expiring(900, "schedule") == []
