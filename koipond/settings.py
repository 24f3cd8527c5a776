"""One settings object per process, read from ``KOIPOND_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from koipond import envvars
from koipond.models.guard import DEFAULT_CLUSTER, PrometheusCluster


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
    poll_interval_seconds: float = Field(default=5.0, gt=0, le=300, description=envvars.POLL_INTERVAL_SECONDS)
    missed_polls: int = Field(default=3, ge=1, le=100, description=envvars.MISSED_POLLS)
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
    token_mint_timeout_seconds: float = Field(default=10.0, gt=0, le=60, description=envvars.TOKEN_MINT_TIMEOUT_SECONDS)
    token_backoff_base_seconds: int = Field(
        default=2, ge=1, le=900, description=f"{envvars.TOKEN_BACKOFF_BASE_SECONDS}: first retry's delay ceiling."
    )
    token_backoff_cap_seconds: int = Field(
        default=900, ge=1, le=43_200, description=f"{envvars.TOKEN_BACKOFF_CAP_SECONDS}: longest retry delay."
    )


def guard_clusters(settings: Settings) -> dict[str, PrometheusCluster]:
    """Named Prometheus endpoints; ``KOIPOND_PROMETHEUS_URL`` is the default one unless named explicitly."""
    clusters = dict(settings.guard_clusters)
    if settings.prometheus_url and DEFAULT_CLUSTER not in clusters:
        clusters[DEFAULT_CLUSTER] = PrometheusCluster(url=settings.prometheus_url)
    return clusters


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (Lambda cold start, CLI start)."""
    return Settings()
