"""Where koi get their users' tokens: a port, with the bundled target's mint endpoint as one adapter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import httpx

# The target mints at most this many tokens per call.
MINT_BATCH = 10_000


class TokenUnavailableError(Exception):
    """Tokens for some koi could not be had; those koi do not start (and the School says why)."""


class TokenSource(Protocol):
    async def tokens_for(self, target: str, workspace: str, indexes: Sequence[int]) -> dict[int, str]:
        """A token for each user index (all or nothing)."""
        ...


class MintingTokenSource:
    """Asks the service under test to mint tokens (the bundled target's ``admin.tokens.mint``).

    Token values are never logged: errors name the workspace and how many, never a token.
    """

    def __init__(self, admin_token: str, timeout: float = 30.0) -> None:
        self._admin_token = admin_token
        self._timeout = timeout

    async def tokens_for(self, target: str, workspace: str, indexes: Sequence[int]) -> dict[int, str]:
        wanted = sorted(set(indexes))
        minted: dict[int, str] = {}
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            for offset in range(0, len(wanted), MINT_BATCH):
                batch = wanted[offset : offset + MINT_BATCH]
                minted.update(await self._mint(client, target, workspace, batch))
        missing = len(wanted) - len(minted)
        if missing:
            raise TokenUnavailableError(f"{missing} of {len(wanted)} tokens of workspace {workspace!r} not minted")
        return minted

    async def _mint(self, client: httpx.AsyncClient, target: str, workspace: str, batch: list[int]) -> dict[int, str]:
        url = f"{target.rstrip('/')}/api/admin.tokens.mint"
        try:
            response = await client.post(
                url,
                json={"workspace": workspace, "users": batch},
                headers={"Authorization": f"Bearer {self._admin_token}"},
            )
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenUnavailableError(f"minting tokens at {url} failed: {type(exc).__name__}") from exc
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = answer.get("error") if isinstance(answer, dict) else "bad answer"
            raise TokenUnavailableError(f"minting tokens at {url} failed: HTTP {response.status_code} {error}")
        return {int(index): str(token) for index, token in answer["tokens"].items()}
