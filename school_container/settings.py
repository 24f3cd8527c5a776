"""The School's settings, from ``KOIPOND_*`` environment variables (one object per process)."""

from __future__ import annotations

import socket
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchoolSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOIPOND_", extra="ignore", frozen=True)

    keeper_url: str = Field(description="KOIPOND_KEEPER_URL: the Keeper to poll.")
    token: SecretStr = Field(description="KOIPOND_TOKEN: an API key with the school role.")
    school_id: str = Field(default_factory=lambda: socket.gethostname().lower(), pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    school_capacity: int = Field(
        default=5000, ge=0, le=1_000_000, description="Most koi this School runs (all its workers together)."
    )
    school_workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="KOIPOND_SCHOOL_WORKERS: worker processes hosting koi (default: the CPUs the container may"
        " use); 1 hosts them in the School's own process.",
    )
    failsafe_seconds: float = Field(
        default=60, gt=0, description="Keep the last assignment this long while the Keeper is unreachable."
    )
    metrics_host: str = "0.0.0.0"
    metrics_port: int = Field(default=9100, ge=0, le=65535)
    drain_seconds: float = Field(default=10, ge=0, description="On SIGTERM, time given to koi to finish.")
    target_admin_token: SecretStr | None = Field(
        default=None, description="KOIPOND_TARGET_ADMIN_TOKEN: lets koi mint tokens from the bundled target."
    )
    token_mint_origins: str = Field(
        default="",
        description="KOIPOND_TOKEN_MINT_ORIGINS: the only origins (scheme://host:port, comma-separated) the target"
        " admin token is sent to; a test naming another target gets no minted tokens.",
    )
    token_bucket: str | None = Field(
        default=None, description="KOIPOND_TOKEN_BUCKET: read users' tokens from the token pipeline's shards."
    )
    aws_endpoint: str | None = Field(default=None, description="KOIPOND_AWS_ENDPOINT: the embedded AWS, if any.")
    aws_region: str = "us-east-1"
    startup_spread_seconds: float = Field(default=10, ge=0, description="Koi start spread over this window.")
    max_connections: int = Field(default=2000, ge=1, description="HTTP connections shared by all koi.")
    # The School's own client makes about 1.8x pyreqwest's koi calls per core (bench/bench_throughput.py);
    # pyreqwest stays as the fallback.
    school_http_client: Literal["pyreqwest", "native"] = Field(
        default="native",
        description="KOIPOND_SCHOOL_HTTP_CLIENT: the koi's HTTP client, pyreqwest or the School's own (native).",
    )


def settings_to_wire(settings: SchoolSettings) -> dict[str, Any]:
    """The settings as JSON values, secrets revealed: for a School's own workers, over a private pipe only."""
    values = settings.model_dump(mode="json")
    for name, value in settings:
        if isinstance(value, SecretStr):
            values[name] = value.get_secret_value()
    return values


def settings_from_wire(values: dict[str, Any]) -> SchoolSettings:
    """The settings a supervisor sent its worker (what is sent wins over the worker's environment)."""
    return SchoolSettings(**values)
