"""The token queue's contract, on SQS and in memory: delivery, visibility, the DLQ, peeking and moving back."""

from __future__ import annotations

import pytest

from koipond.clock import FixedClock
from koipond.tokens.memory import InMemoryTokenQueue
from koipond.tokens.models import PlanMessage, ShardMessage, TokenQueueMessage
from tests.contract.fixtures_tokens import (
    IMPLEMENTATIONS,
    MAX_RECEIVES,
    MemoryHarness,
    QueueHarness,
    sqs_harness,
)


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest, clock: FixedClock) -> QueueHarness:
    if request.param == "memory":
        return MemoryHarness(InMemoryTokenQueue(clock, max_receive_count=MAX_RECEIVES))
    return sqs_harness(request)


def batch(shard: int, job_id: str = "tj-1") -> ShardMessage:
    return ShardMessage.whole_shard(job_id, "pond", "http://target.test", shard)


def dead_letter(harness: QueueHarness, messages: list[TokenQueueMessage]) -> None:
    """Send ``messages`` and fail them until the redrive policy moves them to the dead-letter queue."""
    harness.queue.send(messages)
    for _ in range(MAX_RECEIVES):
        assert len(harness.receive(visibility_timeout=0)) == len(messages)
    assert harness.receive(visibility_timeout=0) == []  # over-received: moved instead of delivered


def test_sent_batches_and_plan_steps_are_delivered_as_sent(harness: QueueHarness) -> None:
    sent: list[TokenQueueMessage] = [*(batch(shard) for shard in range(12)), PlanMessage(job_id="tj-1", queued=12)]

    assert harness.queue.send(sent) == 13

    received = harness.receive() + harness.receive()
    assert sorted(d.message.model_dump_json() for d in received if d.message) == sorted(
        m.model_dump_json() for m in sent
    )
    assert {d.receive_count for d in received} == {1}


def test_a_message_hidden_by_change_visibility_comes_back_when_made_visible(harness: QueueHarness) -> None:
    harness.queue.send([batch(0)])
    [first] = harness.receive()

    harness.queue.change_visibility(first.receipt_handle, 600)
    assert harness.receive() == []

    harness.queue.change_visibility(first.receipt_handle, 0)
    [second] = harness.receive()
    assert (second.message, second.receive_count) == (batch(0), 2)


def test_a_deleted_message_is_not_delivered_again(harness: QueueHarness) -> None:
    harness.queue.send([batch(0)])
    [delivery] = harness.receive(visibility_timeout=0)

    harness.delete(delivery.receipt_handle)

    assert harness.receive() == []


def test_the_queue_reports_its_redrive_policy(harness: QueueHarness) -> None:
    assert harness.queue.max_receive_count() == MAX_RECEIVES


def test_a_message_received_too_often_lands_in_the_dlq_and_peeking_leaves_it_there(harness: QueueHarness) -> None:
    assert harness.queue.dlq_depth() == (0, 0)
    dead_letter(harness, [batch(4), PlanMessage(job_id="tj-2", queued=7)])

    assert harness.queue.dlq_depth() == (2, 0)
    for _ in range(2):
        peeked = harness.queue.peek_dlq(10)
        found = [(q.batch.shard if q.batch else None, q.plan) for q in peeked]
        assert sorted(found, key=str) == sorted([(4, None), (None, PlanMessage(job_id="tj-2", queued=7))], key=str)
    assert len(harness.queue.peek_dlq(1)) == 1
    assert harness.queue.dlq_depth() == (2, 0)


def test_moving_back_empties_the_dlq_into_the_queue_with_fresh_receive_counts(harness: QueueHarness) -> None:
    dead_letter(harness, [batch(0), batch(1), batch(2)])
    peeked_ids = {q.message_id for q in harness.queue.peek_dlq(10)}

    if harness.queue.start_move_task() is not None:
        pytest.skip("this endpoint moves the DLQ on its own")
    moved = harness.queue.move_back(10)

    assert {q.message_id for q in moved} == peeked_ids
    assert sorted(q.batch.shard for q in moved if q.batch) == [0, 1, 2]
    assert harness.queue.dlq_depth() == (0, 0)
    received = harness.receive()
    assert sorted(d.message.model_dump_json() for d in received if d.message) == sorted(
        batch(shard).model_dump_json() for shard in range(3)
    )
    assert {d.receive_count for d in received} == {1}


def test_moving_back_stops_at_its_limit(harness: QueueHarness) -> None:
    dead_letter(harness, [batch(shard) for shard in range(5)])

    moved = harness.queue.move_back(3)

    assert len(moved) == 3
    assert harness.queue.dlq_depth()[0] == 2
    assert len(harness.queue.move_back(10)) == 2
