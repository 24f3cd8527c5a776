"""What a koi host is built from, as the settings choose: the koi's HTTP client and where tokens come from."""

from __future__ import annotations

from typing import Any

from koipond.aws_clients import boto3_client
from koipond.tokens.mint_origins import MintOrigins
from school_container.settings import SchoolSettings
from school_container.tokens import ChainedTokenSource, MintingTokenSource, S3ShardTokenSource, TokenSource
from school_container.web_api import NativeWebApi, ReqwestWebApi, WebApi


def token_source(settings: SchoolSettings) -> TokenSource:
    """The pipeline's shards when a bucket is configured, then minting when a target admin token is."""
    sources: list[tuple[str, TokenSource]] = []
    if settings.token_bucket:
        sources.append(("s3 shards", S3ShardTokenSource(settings.token_bucket, s3_client(settings))))
    if settings.target_admin_token:
        origins = MintOrigins.parse(settings.token_mint_origins)
        sources.append(("minting", MintingTokenSource(settings.target_admin_token.get_secret_value(), origins)))
    return ChainedTokenSource(sources)


def s3_client(settings: SchoolSettings) -> Any:
    """An S3 client with the School's own credentials (IRSA on EKS), or the embedded AWS locally."""
    return boto3_client("s3", settings.aws_endpoint, settings.aws_region)


def web_api_for(settings: SchoolSettings) -> WebApi:
    """The koi's HTTP client the settings choose (``KOIPOND_SCHOOL_HTTP_CLIENT``)."""
    if settings.school_http_client == "native":
        return NativeWebApi(settings.max_connections)
    return ReqwestWebApi(settings.max_connections)
