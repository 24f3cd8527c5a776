"""``/v1/token-jobs``: bad input is refused before anything is queued; roles apply; tokens never show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from koipond.composition import Keeper
from koipond.settings import Settings
from local_pond.aws import provision
from tests.conftest import Api, issue_token

JOB: dict[str, Any] = {"workspace": "api", "target": "http://127.0.0.1:1", "users": {"start": 0, "end": 250}}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The usual test settings, with the jobs' target allowed to receive the mint token."""
    return settings.model_copy(update={"token_mint_origins": JOB["target"]})


@pytest.fixture
def queues(keeper: Keeper, settings: Settings) -> Iterator[Any]:
    """Fresh token queues, key and bucket in the same in-process embedded AWS as the table."""
    provision(settings)
    sqs = boto3.client("sqs", region_name="us-east-1")
    yield sqs
    for name in (settings.token_queue_name, settings.token_dlq_name):
        sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])


def depth(sqs: Any, settings: Settings) -> int:
    url = sqs.get_queue_url(QueueName=settings.token_queue_name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def test_a_job_is_recorded_with_one_plan_message_and_reports_progress(
    api: Api, queues: Any, settings: Settings
) -> None:
    created = api.post("/v1/token-jobs", JOB)
    assert created.status == 201, created.body
    assert (created.body["batches_total"], created.body["batches_queued"], created.body["status"]) == (3, 0, "planning")
    assert depth(queues, settings) == 1  # the worker's first plan step queues the batches
    shown = api.get(f"/v1/token-jobs/{created.body['id']}").body
    assert shown["batches_done"] == 0
    assert [j["id"] for j in api.get("/v1/token-jobs").body["jobs"]] == [created.body["id"]]
    assert api.get("/v1/token-jobs/dlq").body["depth"] == 0


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"users": {"start": 10, "end": 5}}, "users"),
        ({"users": {"start": -1, "end": 5}}, "users.start"),
        ({"users": {"start": 0, "end": 10_000_001}}, "users.end"),
        ({"workspace": "no spaces"}, "workspace"),
        ({"target": "ftp://x"}, "target"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_jobs_are_refused_and_nothing_is_queued(
    api: Api, queues: Any, settings: Settings, change: dict[str, Any], where: str
) -> None:
    response = api.post("/v1/token-jobs", {**JOB, **change})
    assert 400 <= response.status < 500, response.body
    assert where.split(".")[0] in response.body["error"]["message"]
    assert depth(queues, settings) == 0


def test_viewers_follow_jobs_operators_start_and_redrive(api: Api, queues: Any) -> None:
    viewer = api.as_(issue_token(api, "viewer"))
    assert viewer.post("/v1/token-jobs", JOB).status == 403
    assert viewer.post("/v1/token-jobs/dlq/redrive").status == 403
    assert viewer.get("/v1/token-jobs/dlq").status == 200


def test_an_unknown_job_is_404(api: Api, queues: Any) -> None:
    assert api.get("/v1/token-jobs/tj-nope").status == 404
