"""One settings object per process, read from ``KOIPOND_*`` environment variables."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from koipond import envvars
from koipond.aws_clients import aws_client
from koipond.errors import ConfigurationError
from koipond.models.behavior_source import parse_locations
from koipond.models.guard import DEFAULT_CLUSTER, PrometheusCluster
from koipond.models.history import DEFAULT_RETENTION_DAYS
from koipond.tokens.models import MAX_USER_INDEX, MAX_USERS_PER_JOB


class Settings(BaseSettings):
    """Control-plane settings; every field maps to one variable in :mod:`koipond.envvars`."""

    model_config = SettingsConfigDict(env_prefix="KOIPOND_", extra="ignore", frozen=True)

    aws_endpoint: str | None = Field(
        default=None, description=f"{envvars.AWS_ENDPOINT}: embedded AWS URL; unset means real AWS."
    )
    aws_region: str = Field(default="us-east-1", description=envvars.AWS_REGION)
    table_name: str = Field(default="koipond", description=envvars.TABLE_NAME)
    admin_token: SecretStr | None = Field(
        default=None, description=f"{envvars.ADMIN_TOKEN}: bootstrap admin token, stored hashed."
    )
    admin_token_secret: str | None = Field(
        default=None, description=f"{envvars.ADMIN_TOKEN_SECRET}: Secrets Manager id of the admin token (AWS)."
    )
    poll_interval_seconds: float = Field(default=5.0, gt=0, le=300, description=envvars.POLL_INTERVAL_SECONDS)
    missed_polls: int = Field(default=3, ge=1, le=100, description=envvars.MISSED_POLLS)
    allocator_period_seconds: float = Field(default=1.0, gt=0, le=60, description=envvars.ALLOCATOR_PERIOD_SECONDS)
    allocator_lease_seconds: float = Field(default=5.0, gt=0, le=300, description=envvars.ALLOCATOR_LEASE_SECONDS)
    max_running_tests: int = Field(default=1000, ge=1, le=1000, description=envvars.MAX_RUNNING_TESTS)
    default_school_capacity: int = Field(default=5000, ge=1, description=envvars.DEFAULT_SCHOOL_CAPACITY)
    max_koi_per_test: int = Field(default=10_000_000, ge=1, description=envvars.MAX_KOI_PER_TEST)
    prometheus_url: str | None = Field(
        default=None, description=f"{envvars.PROMETHEUS_URL}: the default guard cluster ({DEFAULT_CLUSTER!r})."
    )
    guard_clusters: dict[str, PrometheusCluster] = Field(
        default_factory=dict, description=f"{envvars.GUARD_CLUSTERS}: JSON object of named Prometheus endpoints."
    )
    guard_timeout_seconds: float = Field(default=10, gt=0, le=60, description=envvars.GUARD_TIMEOUT_SECONDS)
    token_queue_name: str = Field(default="koipond-token-jobs", description=envvars.TOKEN_QUEUE_NAME)
    token_dlq_name: str = Field(default="koipond-token-jobs-dlq", description=envvars.TOKEN_DLQ_NAME)
    token_bucket: str = Field(default="koipond-tokens", description=envvars.TOKEN_BUCKET)
    token_kms_alias: str = Field(default="alias/koipond-tokens", description=envvars.TOKEN_KMS_ALIAS)
    token_ttl_seconds: int = Field(
        default=7 * 86_400, gt=0, description=f"{envvars.TOKEN_TTL_SECONDS}: how long minted tokens are valid."
    )
    token_renew_horizon_seconds: int = Field(
        default=86_400,
        ge=0,
        description=f"{envvars.TOKEN_RENEW_HORIZON_SECONDS}: the schedule re-mints tokens expiring within this.",
    )
    token_mint_admin_token: SecretStr | None = Field(
        default=None,
        description=f"{envvars.TOKEN_MINT_ADMIN_TOKEN}: bearer token of the target's admin.tokens.mint.",
    )
    token_mint_admin_token_secret: str | None = Field(
        default=None,
        description=f"{envvars.TOKEN_MINT_ADMIN_TOKEN_SECRET}: Secrets Manager id of the mint token (AWS).",
    )
    token_mint_timeout_seconds: float = Field(default=10.0, gt=0, le=60, description=envvars.TOKEN_MINT_TIMEOUT_SECONDS)
    token_backoff_base_seconds: int = Field(
        default=2, ge=1, le=900, description=f"{envvars.TOKEN_BACKOFF_BASE_SECONDS}: first retry's delay ceiling."
    )
    token_backoff_cap_seconds: int = Field(
        default=900, ge=1, le=43_200, description=f"{envvars.TOKEN_BACKOFF_CAP_SECONDS}: longest retry delay."
    )
    behavior_source_locations: str = Field(
        default="",
        description=f"{envvars.BEHAVIOR_SOURCE_LOCATIONS}: comma-separated s3://bucket/prefix locations behavior "
        "sources may read usage exports from; empty refuses every S3 source.",
    )
    behavior_move_batch_percent: float = Field(
        default=10.0,
        gt=0,
        le=100,
        description=f"{envvars.BEHAVIOR_MOVE_BATCH_PERCENT}: share of a following test's koi moved onto a new"
        " behavior version per interval.",
    )
    behavior_move_interval_seconds: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description=f"{envvars.BEHAVIOR_MOVE_INTERVAL_SECONDS}: time between two batches of that move.",
    )
    token_mint_origins: str = Field(
        default="",
        description=f"{envvars.TOKEN_MINT_ORIGINS}: comma-separated origins (scheme://host:port) the mint token may"
        " be sent to; empty refuses every token job.",
    )
    token_max_users_per_job: int = Field(
        default=MAX_USERS_PER_JOB,
        ge=1,
        le=MAX_USER_INDEX,
        description=f"{envvars.TOKEN_MAX_USERS_PER_JOB}: users one token job may mint tokens for.",
    )
    token_max_running_jobs: int = Field(
        default=10, ge=1, le=1000, description=f"{envvars.TOKEN_MAX_RUNNING_JOBS}: unfinished token jobs per caller."
    )
    token_plan_step_batches: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description=f"{envvars.TOKEN_PLAN_STEP_BATCHES}: batches the worker queues per step of a job's plan.",
    )
    notification_secret: str | None = Field(
        default=None,
        description=f"{envvars.NOTIFICATION_SECRET}: Secrets Manager secret with the Slack routes; unset: log only.",
    )
    deploy_settle_seconds: float = Field(
        default=60,
        ge=0,
        le=3600,
        description=f"{envvars.DEPLOY_SETTLE_SECONDS}: wait after a soak window ends before judging (scrape delay).",
    )
    deploy_judge_deadline_seconds: float = Field(
        default=3600,
        gt=0,
        le=7 * 86_400,
        description=f"{envvars.DEPLOY_JUDGE_DEADLINE_SECONDS}: after the soak, retry Prometheus this long, then"
        " judge inconclusive.",
    )
    history_retention_days: int = Field(
        default=DEFAULT_RETENTION_DAYS,
        ge=1,
        le=3650,
        description=f"{envvars.HISTORY_RETENTION_DAYS}: days high-volume history events (reallocations) are kept.",
    )

    @field_validator("behavior_source_locations")
    @classmethod
    def _locations(cls, text: str) -> str:
        parse_locations(text)  # its ValueError names the bad entry
        return text


def guard_clusters(settings: Settings) -> dict[str, PrometheusCluster]:
    """Named Prometheus endpoints; ``KOIPOND_PROMETHEUS_URL`` is the default one unless named explicitly."""
    clusters = dict(settings.guard_clusters)
    if settings.prometheus_url and DEFAULT_CLUSTER not in clusters:
        clusters[DEFAULT_CLUSTER] = PrometheusCluster(url=settings.prometheus_url)
    return clusters


# Each token and the field naming the secret it comes from on AWS (never a plaintext env var there).
_SECRET_FIELDS = {"admin_token": "admin_token_secret", "token_mint_admin_token": "token_mint_admin_token_secret"}


def resolve_secrets(settings: Settings, read_secret: Callable[[str], str] | None = None) -> Settings:
    """Fill each token whose ``*_secret`` names a secret, unless the token itself is set.

    Args:
        settings: as read from the environment.
        read_secret: secret id -> its string; Secrets Manager (``aws_endpoint`` aware) when omitted.

    Raises:
        ConfigurationError: a named secret cannot be read or holds no string.
    """
    wanted = {
        field: ref
        for field, ref_field in _SECRET_FIELDS.items()
        if (ref := getattr(settings, ref_field)) and getattr(settings, field) is None
    }
    if not wanted:
        return settings
    read = read_secret or _secrets_manager_reader(settings)
    return settings.model_copy(update={field: SecretStr(read(ref)) for field, ref in wanted.items()})


def _secrets_manager_reader(settings: Settings) -> Callable[[str], str]:
    client: Any = aws_client("secretsmanager", settings)

    def read(secret_id: str) -> str:
        try:
            answer = client.get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise ConfigurationError(f"cannot read secret {secret_id!r}: {code}") from exc
        except BotoCoreError as exc:
            raise ConfigurationError(f"cannot read secret {secret_id!r}: {type(exc).__name__}") from exc
        if "SecretString" not in answer:
            raise ConfigurationError(f"secret {secret_id!r} has no SecretString")
        return str(answer["SecretString"])

    return read


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (Lambda cold start, CLI start), secrets resolved."""
    return resolve_secrets(Settings())
