"""The HTTP mint provider: what it sends, and failures that name their cause without quoting a token."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from koipond.errors import StoreError, TokenMintError
from koipond.tokens.batches import describe_failure
from koipond.tokens.mint_origins import MintOrigins
from koipond.tokens.minting import HttpMintTokenProvider

ADMIN = SecretStr("mint-admin-token")
TOKEN = "xoxp-pond-7-0123456789abcdef0123456789abcdef"
ORIGINS = MintOrigins.parse("http://target.test:8800, http://target.test, http://target.test:81")


def provider(answer: Callable[[httpx.Request], httpx.Response]) -> HttpMintTokenProvider:
    return HttpMintTokenProvider(ADMIN, ORIGINS, client=httpx.Client(transport=httpx.MockTransport(answer)))


def test_it_posts_the_users_with_the_admin_bearer_token_and_returns_tokens_by_index() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "tokens": {"7": TOKEN, "8": TOKEN + "8"}})

    assert provider(answer).mint("pond", "http://target.test:8800/", [7, 8]) == {7: TOKEN, 8: TOKEN + "8"}
    assert str(seen[0].url) == "http://target.test:8800/api/admin.tokens.mint"
    assert seen[0].headers["authorization"] == "Bearer mint-admin-token"
    assert json.loads(seen[0].content) == {"workspace": "pond", "users": [7, 8]}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, {"ok": False, "error": "service_unavailable"}, "HTTP 503: service_unavailable"),
        (401, {"ok": False, "error": "not_authed"}, "HTTP 401: not_authed"),
        (200, {"ok": True, "tokens": {"7": TOKEN}}, "no token for 1 of 2 users"),
        (200, {"ok": True, "tokens": {"7": TOKEN, "8": 5}}, "no token for 1 of 2 users"),
        (200, {"ok": False, "error": TOKEN * 3}, "HTTP 200: unknown"),
        (200, [TOKEN], "without a JSON object"),
    ],
)
def test_bad_answers_are_mint_errors_that_never_quote_the_body(status: int, body: object, expected: str) -> None:
    mint = provider(lambda _: httpx.Response(status, json=body))
    with pytest.raises(TokenMintError) as caught:
        mint.mint("pond", "http://target.test", [7, 8])
    assert expected in caught.value.message
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None


def test_timeouts_and_connection_failures_name_the_host_but_not_the_url_secrets() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TokenMintError, match=r"^minting at http://target.test:81 timed out$"):
        provider(timeout).mint("pond", "http://target.test:81/base?k=secret", [1])
    with pytest.raises(TokenMintError, match="ConnectError") as caught:
        provider(refused).mint("pond", "http://target.test:81/base?k=secret", [1])
    assert "secret" not in caught.value.message


def test_a_target_with_user_info_is_refused_without_a_request_or_quoting_it() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(TokenMintError, match="user info") as caught:
        provider(lambda r: seen.append(r) or httpx.Response(200)).mint("pond", "http://user:pass@target.test:81/", [1])
    assert seen == []
    assert "pass" not in caught.value.message


def test_without_an_admin_token_it_says_which_setting_is_missing() -> None:
    with pytest.raises(TokenMintError, match="KOIPOND_TOKEN_MINT_ADMIN_TOKEN"):
        HttpMintTokenProvider(None, ORIGINS).mint("pond", "http://target.test", [1])


def test_failure_reasons_quote_only_messages_koipond_wrote() -> None:
    assert describe_failure(TokenMintError("minting at http://t answered HTTP 503: x")) == (
        "minting at http://t answered HTTP 503: x"
    )
    assert describe_failure(KeyError(TOKEN)) == "KeyError"
    assert describe_failure(RuntimeError(f"unexpected {TOKEN}")) == "RuntimeError"
    assert len(describe_failure(StoreError("x" * 1000))) == 300
