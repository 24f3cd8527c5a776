"""Composition of the token pipeline: the job service (Keeper, schedule) and the worker, built once per process."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from koipond.aws_clients import AwsClients
from koipond.clock import Clock, SystemClock
from koipond.composition.process_wide import ProcessWide
from koipond.settings import Settings
from koipond.store.schema import PK, SK, TTL_ATTRIBUTE
from koipond.store.table import DynamoTable
from koipond.tokens.batches import TokenBatchWorker
from koipond.tokens.job_store import DynamoTokenJobRepository
from koipond.tokens.jobs import TokenJobService
from koipond.tokens.mint_origins import MintOrigins
from koipond.tokens.minting import HttpMintTokenProvider
from koipond.tokens.plans import TokenJobPlanner
from koipond.tokens.ports import TokenProvider
from koipond.tokens.queue import SqsTokenQueue
from koipond.tokens.shards import S3TokenShardStore

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
    from mypy_boto3_dynamodb import DynamoDBClient

IDEMPOTENCY_PK = "IDEMPOTENCY#token-worker"
# Duplicate deliveries arrive within minutes; a batch redelivered later finds its batch done anyway.
IDEMPOTENCY_SECONDS = 86_400


@dataclass(frozen=True)
class TokenWorker:
    """Everything the token worker Lambda (and its schedule) needs, built once."""

    settings: Settings
    jobs: TokenJobService
    batches: TokenBatchWorker
    planner: TokenJobPlanner
    idempotency_config: IdempotencyConfig
    # ``batches.process`` behind Powertools idempotency, keyed by job id and shard.
    process_once: Callable[..., dict[str, Any]]
    plan_idempotency_config: IdempotencyConfig
    # ``planner.process`` behind Powertools idempotency, keyed by job id and the step's cursor.
    plan_once: Callable[..., dict[str, Any]]


def token_queue(settings: Settings, aws: AwsClients) -> SqsTokenQueue:
    return SqsTokenQueue(aws, settings.token_queue_name, settings.token_dlq_name)


def build_token_job_service(settings: Settings, table: DynamoTable, aws: AwsClients, clock: Clock) -> TokenJobService:
    """The service behind ``/v1/token-jobs`` and the schedule (no client is created until used)."""
    return TokenJobService(
        DynamoTokenJobRepository(table),
        token_queue(settings, aws),
        clock,
        settings.token_ttl_seconds,
        MintOrigins.parse(settings.token_mint_origins),
        settings.token_max_users_per_job,
        settings.token_max_running_jobs,
    )


def build_token_worker(
    settings: Settings,
    dynamodb: DynamoDBClient,
    aws: AwsClients | None = None,
    clock: Clock | None = None,
    provider: TokenProvider | None = None,
    rng: random.Random | None = None,
) -> TokenWorker:
    """Wire the worker; tests pass their own provider, clock and (seeded) jitter."""
    aws = aws or AwsClients(settings)
    clock = clock or SystemClock()
    table = DynamoTable(dynamodb, settings.table_name)
    origins = MintOrigins.parse(settings.token_mint_origins)
    queue = token_queue(settings, aws)
    batches = TokenBatchWorker(
        DynamoTokenJobRepository(table),
        queue,
        S3TokenShardStore(aws, settings.token_bucket, settings.token_kms_alias),
        provider
        or HttpMintTokenProvider(settings.token_mint_admin_token, origins, settings.token_mint_timeout_seconds),
        clock,
        # Not for security: jitter that spreads retries out.
        rng or random.Random(),  # noqa: S311
        settings.token_ttl_seconds,
        settings.token_backoff_base_seconds,
        settings.token_backoff_cap_seconds,
    )
    config, process_once = _once(batches.process, "batch", "[job_id, shard]", "token-batch", settings, dynamodb)
    planner = TokenJobPlanner(DynamoTokenJobRepository(table), queue, origins, settings.token_plan_step_batches)
    plan_config, plan_once = _once(planner.process, "plan", "[job_id, queued]", "token-plan", settings, dynamodb)
    return TokenWorker(
        settings=settings,
        jobs=build_token_job_service(settings, table, aws, clock),
        batches=batches,
        planner=planner,
        idempotency_config=config,
        process_once=process_once,
        plan_idempotency_config=plan_config,
        plan_once=plan_once,
    )


def _once(
    function: Callable[..., dict[str, Any]],
    keyword: str,
    key: str,
    prefix: str,
    settings: Settings,
    dynamodb: DynamoDBClient,
) -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    """``function`` behind Powertools idempotency on its ``keyword`` argument's ``key`` fields, each with
    a persistence layer of its own (see :func:`_idempotency_layer`); the config goes with it, for the
    handler to register its Lambda context."""
    # Imported here: the Keeper builds the job service from this module and never needs these.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath=key, raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
    )
    once = idempotent_function(
        function,
        data_keyword_argument=keyword,
        persistence_store=_idempotency_layer(settings, dynamodb),
        config=config,
        key_prefix=prefix,
    )
    return config, once


def _idempotency_layer(settings: Settings, dynamodb: DynamoDBClient) -> DynamoDBPersistenceLayer:
    """Idempotency records in the same table: pk is fixed, sk the hashed key; they expire by the table's TTL.

    One layer per idempotent function: a layer keeps the first config it is used with, so a shared
    one would key batches by the plan's fields (or plan steps by the batch's).
    """
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=settings.table_name,
        key_attr=PK,
        sort_key_attr=SK,
        static_pk_value=IDEMPOTENCY_PK,
        expiry_attr=TTL_ATTRIBUTE,
        boto3_client=dynamodb,
    )


# The process's token worker (``get_token_worker()``), built on first use;
# ``with injected_token_worker(...)`` replaces it in tests (they wire their own provider).
_workers = ProcessWide(build_token_worker)
get_token_worker = _workers.get
injected_token_worker = _workers.injected
