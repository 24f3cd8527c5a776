"""Stage settings of the CDK app, read from context (``cdk.json`` or ``-c key=value``) with documented defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from constructs import Node

from koipond import envvars
from koipond.models.behavior_source import parse_locations
from koipond.settings import Settings
from koipond.tokens.mint_origins import MintOrigins
from koipond.tokens.models import DEFAULT_MAX_RECEIVE_COUNT
from school_container.settings import SchoolSettings


def _default(name: str) -> str:
    """The settings code's default (never the environment of the machine running ``cdk synth``)."""
    return str(Settings.model_fields[name].default)


def _school_default(name: str) -> int:
    return int(SchoolSettings.model_fields[name].default)


PREFIX = "koipond:"


@dataclass(frozen=True)
class StageConfig:
    """One deployment of koipond; each field is the context key ``koipond:<fieldName>`` (camelCase)."""

    stage: str = "dev"
    account: str | None = None
    region: str | None = None
    table_name: str = _default("table_name")
    token_queue_name: str = _default("token_queue_name")
    token_dlq_name: str = _default("token_dlq_name")
    token_bucket_name: str | None = None
    token_kms_alias: str = _default("token_kms_alias")
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    # The only origins (scheme://host:port, comma-separated) the token worker may send the mint token to;
    # none by default, so every token job is refused until an admin names the service that mints.
    token_mint_origins: str = _default("token_mint_origins")
    # The only S3 locations (s3://bucket/prefix, comma-separated) behavior sources may read usage exports from;
    # the release tick may read exactly these, the Keeper refuses sources elsewhere. None by default.
    behavior_source_locations: str = _default("behavior_source_locations")
    guard_schedule: str = "rate(1 minute)"
    token_renew_schedule: str = "cron(17 3 * * ? *)"  # noqa: S105 - a schedule, not a secret
    prometheus_url: str = ""
    api_throttle_rate: int = 50
    api_throttle_burst: int = 100
    log_retention_days: int = 30
    release_tick_schedule: str = "rate(1 minute)"
    # Each run loops allocation passes for up to 55 s, so a schedule of one minute keeps one allocator looping.
    allocator_schedule: str = "rate(1 minute)"
    # Schools on EKS: an existing cluster when eksClusterName is set (kubectl role and OIDC provider are then
    # required: see cdk/README.md), otherwise a new cluster with one node per School.
    eks_cluster_name: str | None = None
    eks_kubectl_role_arn: str | None = None
    eks_oidc_provider_arn: str | None = None
    eks_public_access_cidrs: str | None = None  # comma-separated; a new cluster's API is public without them
    school_replicas: int = 2
    school_capacity: int = _school_default("school_capacity")
    school_namespace: str = "koipond"
    school_token_secret: str = "koipond-school"  # noqa: S105 - the name of a Kubernetes Secret, not a secret
    school_node_instance_type: str = "c7i.large"

    @classmethod
    def from_node(cls, node: Node) -> StageConfig:
        """Every ``koipond:*`` context value that is set overrides its default (numbers may come as strings)."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = node.try_get_context(PREFIX + context_key(field.name))
            if raw is None or raw == "":
                continue
            values[field.name] = int(raw) if field.type == "int" else str(raw)
        return cls(**values)

    def __post_init__(self) -> None:
        try:
            parse_locations(self.behavior_source_locations)
        except ValueError as exc:
            raise ValueError(f"{PREFIX}behaviorSourceLocations: {exc}") from exc
        if bad := MintOrigins.parse(self.token_mint_origins).invalid:
            raise ValueError(
                f"{PREFIX}tokenMintOrigins: entry {', '.join(map(str, bad))} is not an origin (scheme://host:port)"
            )

    def behavior_source_environment(self) -> dict[str, str]:
        """``KOIPOND_BEHAVIOR_SOURCE_LOCATIONS`` for the Keeper and the release tick; unset (none allowed)."""
        locations = self.behavior_source_locations
        return {envvars.BEHAVIOR_SOURCE_LOCATIONS: locations} if locations else {}

    def mint_origins_environment(self) -> dict[str, str]:
        """``KOIPOND_TOKEN_MINT_ORIGINS`` for the Keeper and the token worker; unset (none allowed) by default."""
        return {envvars.TOKEN_MINT_ORIGINS: self.token_mint_origins} if self.token_mint_origins else {}

    @property
    def stack_name(self) -> str:
        return f"koipond-{self.stage}"

    @property
    def imports_eks_cluster(self) -> bool:
        return self.eks_cluster_name is not None


def context_key(field_name: str) -> str:
    head, *rest = field_name.split("_")
    return head + "".join(part.capitalize() for part in rest)
