"""The token pipeline on an in-process embedded AWS: provisioned queues, bucket and key, a local event source."""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from koipond.aws_clients import AwsClients, aws_client
from koipond.composition.tokens import TokenWorker
from koipond.errors import TokenMintError
from koipond.settings import Settings
from koipond.tokens.models import SHARD_SIZE, TokenJob
from local_pond.token_worker import PollResult, poll_once
from slacklike_target.app import build_app
from slacklike_target.context import TargetConfig
from slacklike_target.tokens import TokenAuthority

TARGET_SECRET = "pipeline-secret"
TARGET_ADMIN_TOKEN = "pipeline-admin"
# Small, so a poisoned batch reaches the DLQ after two short backoffs (1 s, then 2 s).
MAX_RECEIVES = 3


class HighestJitter(random.Random):
    """Jitter that always draws the top of its range, so each retry waits the full ceiling."""

    def random(self) -> float:
        return 0.999_999_999


def fake_token(workspace: str, index: int) -> str:
    return f"xoxp-{workspace}-{index}-{hashlib.sha256(f'{workspace}:{index}'.encode()).hexdigest()[:32]}"


@dataclass
class FakeProvider:
    """A token provider that counts its calls and refuses the shards in ``poisoned``."""

    poisoned: set[int] = field(default_factory=set)
    calls: list[tuple[int, float]] = field(default_factory=list)

    def mint(self, workspace: str, target: str, indexes: list[int]) -> dict[int, str]:
        shard = indexes[0] // SHARD_SIZE
        self.calls.append((shard, time.monotonic()))
        if shard in self.poisoned:
            raise TokenMintError(f"the provider refuses shard {shard}")
        return {index: fake_token(workspace, index) for index in indexes}

    def calls_for(self, shard: int) -> list[float]:
        return [at for s, at in self.calls if s == shard]


@dataclass
class Pipeline:
    """The worker as Lambda would run it, fed by the local event source (``koipond token-worker``'s poll)."""

    settings: Settings
    worker: TokenWorker
    aws: AwsClients
    visibility_timeouts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sqs = aws_client("sqs", self.settings)
        self.queue_url = self.sqs.get_queue_url(QueueName=self.settings.token_queue_name)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        # Every ChangeMessageVisibility the worker sends, as sent (a botocore hook, not a mock).
        self.aws.sqs.meta.events.register(
            "provide-client-params.sqs.ChangeMessageVisibility",
            lambda params, **_: self.visibility_timeouts.append(params["VisibilityTimeout"]),
        )

    def poll(self, wait_seconds: int = 1) -> PollResult:
        from lambdas.token_worker.handler import lambda_handler

        return poll_once(
            self.sqs, self.queue_url, self.queue_arn, self.settings.aws_region, lambda_handler, wait_seconds
        )

    def drain_until(self, done: Callable[[], bool], timeout: float = 12.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the pipeline did not get there in time"
            self.poll()

    def job(self, job_id: str) -> TokenJob:
        return self.worker.jobs.get_job(job_id)

    def dlq_depth(self) -> int:
        return self.worker.jobs.dlq(sample=0).depth


@dataclass
class BundledTarget:
    url: str
    admin_token: str
    authority: TokenAuthority


@contextmanager
def bundled_target() -> Iterator[BundledTarget]:
    """The bundled target on 127.0.0.1 in a thread of its own (the worker's HTTP provider calls it)."""
    secret, admin_token = TARGET_SECRET, TARGET_ADMIN_TOKEN
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(build_app(TargetConfig(secret=secret, admin_token=admin_token, seed=1)), access_log=None)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="bundled-target", daemon=True)
    thread.start()
    assert ready.wait(10)
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield BundledTarget(f"http://127.0.0.1:{port}", admin_token, TokenAuthority(secret))
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def faults(target: BundledTarget, method: str, body: Any = None) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {target.admin_token}"}
    response = httpx.request(method, f"{target.url}/admin/faults", json=body, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
