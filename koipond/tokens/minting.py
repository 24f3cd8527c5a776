"""Minting users' tokens over HTTP: the adapter of the ``TokenProvider`` port."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from koipond.errors import KoipondError, TokenMintError
from koipond.tokens.mint_origins import MintOrigins

MINT_PATH = "/api/admin.tokens.mint"


class HttpMintTokenProvider:
    """Mints through a ``POST {target}/api/admin.tokens.mint`` endpoint (the bundled target has one).

    Request ``{"workspace", "users": [...]}`` with the admin bearer token; answer
    ``{"ok": true, "tokens": {"<index>": token}}`` or ``{"ok": false, "error": code}``.
    The admin token goes only to an origin on ``origins``: the job was checked when it was created,
    and is checked again here, on the very URL sent, because a job (or a forged message) queued
    before the list changed must not carry the token anywhere else. The School's local minting fallback
    goes through here too, under the same list.
    """

    def __init__(
        self,
        admin_token: SecretStr | None,
        origins: MintOrigins,
        timeout_seconds: float = 10.0,
        client: httpx.Client | None = None,
    ):
        self._admin_token = admin_token
        self._origins = origins
        # No redirects: a 30x must not carry the token to another origin.
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_seconds), follow_redirects=False)

    def mint(self, workspace: str, target: str, indexes: Sequence[int]) -> dict[int, str]:
        if self._admin_token is None:
            raise TokenMintError("no mint admin token is configured (KOIPOND_TOKEN_MINT_ADMIN_TOKEN)")
        url = _mint_url(target)
        try:
            where = self._origins.check(url)
        except (KoipondError, ValueError) as exc:
            raise TokenMintError(f"not minting: {exc.message if isinstance(exc, KoipondError) else exc}") from None
        try:
            response = self._client.post(
                url,
                json={"workspace": workspace, "users": list(indexes)},
                headers={"Authorization": f"Bearer {self._admin_token.get_secret_value()}"},
            )
        except httpx.TimeoutException:
            raise TokenMintError(f"minting at {where} timed out") from None
        except httpx.HTTPError as exc:
            raise TokenMintError(f"minting at {where} failed: {type(exc).__name__}") from None
        return _tokens_of(response, where, indexes)

    def close(self) -> None:
        self._client.close()


def _mint_url(target: str) -> httpx.URL:
    """The mint endpoint under ``target``, parsed once: the origin checked is the one the request goes to."""
    try:
        return httpx.URL(target.rstrip("/") + MINT_PATH)
    except httpx.InvalidURL:
        raise TokenMintError("not minting: the target is not a URL") from None


def _tokens_of(response: httpx.Response, where: str, indexes: Sequence[int]) -> dict[int, str]:
    # Never quote the body: a successful one is full of tokens.
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TokenMintError(f"minting at {where} answered HTTP {response.status_code} without a JSON object")
    if response.status_code != 200 or body.get("ok") is not True:
        code = body.get("error")
        code = code if isinstance(code, str) and len(code) <= 64 else "unknown"
        raise TokenMintError(f"minting at {where} answered HTTP {response.status_code}: {code}")
    raw = body.get("tokens")
    tokens: dict[int, str] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            if isinstance(key, str) and key.isdecimal() and isinstance(value, str) and value:
                tokens[int(key)] = value
    missing = sum(1 for index in indexes if index not in tokens)
    if missing:
        raise TokenMintError(f"minting at {where} returned no token for {missing} of {len(indexes)} users")
    return {index: tokens[index] for index in indexes}
