"""The School's local minting fallback sends the target admin token only to allow-listed origins: a test
aimed at a listener an operator controls gets no token, and the listener hears nothing."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

from koipond.tokens.mint_origins import MintOrigins
from school_container.tokens import MintingTokenSource, TokenUnavailableError


class _Listener(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:
        _Listener.seen.append(self.headers.get("authorization", ""))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def listener() -> Iterator[str]:
    _Listener.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_target_off_the_list_gets_no_token_and_hears_nothing(listener: str) -> None:
    source = MintingTokenSource("target-admin-secret", MintOrigins.parse("http://127.0.0.1:8800"))
    with pytest.raises(TokenUnavailableError, match="not an allowed mint origin"):
        asyncio.run(source.tokens_for(listener, "pond", [1, 2]))
    assert _Listener.seen == []


def test_without_origins_a_school_mints_for_nobody(listener: str) -> None:
    source = MintingTokenSource("target-admin-secret", MintOrigins.parse(""))
    with pytest.raises(TokenUnavailableError, match="disabled"):
        asyncio.run(source.tokens_for(listener, "pond", [1]))
    assert _Listener.seen == []


def test_a_listed_origin_is_asked(listener: str) -> None:
    """The control: the same source does send the token where it is allowed to go."""
    source = MintingTokenSource("target-admin-secret", MintOrigins.parse(listener))
    with pytest.raises(TokenUnavailableError):  # the listener answers no tokens
        asyncio.run(source.tokens_for(listener, "pond", [1]))
    assert _Listener.seen == ["Bearer target-admin-secret"]
