"""Where koi get their users' tokens: a port, with the bundled target's mint endpoint as one adapter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from koipond.errors import TokenMintError
from koipond.tokens.mint_origins import MintOrigins
from koipond.tokens.minting import HttpMintTokenProvider
from koipond.tokens.models import SHARD_SIZE, ShardDocument, shard_key

log = logging.getLogger("koipond.school.tokens")

# The target mints at most this many tokens per call.
MINT_BATCH = 10_000


class TokenUnavailableError(Exception):
    """Tokens for some koi could not be had; those koi do not start (and the School says why)."""


class TokenSource(Protocol):
    async def tokens_for(self, target: str, workspace: str, indexes: Sequence[int]) -> dict[int, str]:
        """A token for each user index (all or nothing)."""
        ...


class MintingTokenSource:
    """Asks the service under test to mint tokens, through the token worker's own HTTP provider.

    A test's target is whatever an operator wrote, so the admin token goes only to ``origins`` (the
    allow-list the token worker obeys too); a koi of a test aimed elsewhere gets no token and does not
    start. Token values are never logged: errors name the host and how many, never a token.
    """

    def __init__(self, admin_token: str, origins: MintOrigins, timeout: float = 30.0) -> None:
        self._provider = HttpMintTokenProvider(SecretStr(admin_token), timeout_seconds=timeout, origins=origins)

    async def tokens_for(self, target: str, workspace: str, indexes: Sequence[int]) -> dict[int, str]:
        wanted = sorted(set(indexes))
        minted: dict[int, str] = {}
        for offset in range(0, len(wanted), MINT_BATCH):
            batch = wanted[offset : offset + MINT_BATCH]
            try:
                # The provider is synchronous (the worker Lambda's); keep it off the koi's event loop.
                minted.update(await asyncio.to_thread(self._provider.mint, workspace, target, batch))
            except TokenMintError as exc:
                raise TokenUnavailableError(f"tokens of workspace {workspace!r}: {exc.message}") from exc
        return minted


class S3ShardTokenSource:
    """Reads the token pipeline's shards (``tokens/{workspace}/{shard}.json``, SSE-KMS) with the School's own
    credentials, only those covering its koi, and keeps them while the School runs."""

    def __init__(self, bucket: str, s3_client: Any) -> None:
        self._bucket = bucket
        self._s3 = s3_client
        self._cache: dict[tuple[str, int], dict[int, str]] = {}

    async def tokens_for(self, target: str, workspace: str, indexes: Sequence[int]) -> dict[int, str]:
        wanted = sorted(set(indexes))
        shards = sorted({index // SHARD_SIZE for index in wanted})
        missing = [shard for shard in shards if (workspace, shard) not in self._cache]
        if missing:
            loaded = await asyncio.to_thread(self._load, workspace, missing)
            self._cache.update({(workspace, shard): tokens for shard, tokens in loaded.items()})
        found = {i: self._cache[(workspace, i // SHARD_SIZE)].get(i) for i in wanted}
        absent = [i for i, token in found.items() if token is None]
        if absent:
            raise TokenUnavailableError(f"{len(absent)} of {len(wanted)} tokens of {workspace!r} are not in the shards")
        return {i: token for i, token in found.items() if token is not None}

    def _load(self, workspace: str, shards: list[int]) -> dict[int, dict[int, str]]:
        loaded = {}
        for shard in shards:
            key = shard_key(workspace, shard)
            try:
                body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            except (BotoCoreError, ClientError) as exc:
                raise TokenUnavailableError(
                    f"shard s3://{self._bucket}/{key} unavailable: {type(exc).__name__}"
                ) from exc
            document = ShardDocument.model_validate_json(body)
            loaded[shard] = dict(document.tokens)
        return loaded


class ChainedTokenSource:
    """The first source that has every token wins (the pipeline's shards, then minting as a fallback)."""

    def __init__(self, sources: Sequence[tuple[str, TokenSource]]) -> None:
        self._sources = sources

    async def tokens_for(self, target: str, workspace: str, indexes: Sequence[int]) -> dict[int, str]:
        reasons = []
        for name, source in self._sources:
            try:
                tokens = await source.tokens_for(target, workspace, indexes)
            except TokenUnavailableError as exc:
                reasons.append(f"{name}: {exc}")
                continue
            log.info("%d tokens of workspace %s from %s", len(tokens), workspace, name)
            return tokens
        raise TokenUnavailableError("; ".join(reasons) or "no token source configured")
