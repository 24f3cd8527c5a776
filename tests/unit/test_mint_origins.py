"""The mint origin allow-list: exact origins after normalising, never a prefix, never a credential quoted."""

from __future__ import annotations

import pytest

from koipond.errors import ConfigurationError
from koipond.tokens.mint_origins import MintOriginNotAllowedError, MintOrigins, origin_of

ORIGINS = MintOrigins.parse("https://mint.example.com, http://127.0.0.1:8800 ,,http://[::1]:9000/")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("HTTPS://Mint.Example.COM", "https://mint.example.com:443"),
        ("https://mint.example.com:443/any/path?q=1", "https://mint.example.com:443"),
        ("http://mint.example.com", "http://mint.example.com:80"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("https://bücher.example", "https://xn--bcher-kva.example:443"),
    ],
)
def test_origins_are_lower_case_with_their_port_written(url: str, origin: str) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    "target",
    ["https://MINT.example.com:443/", "https://mint.example.com/api", "http://127.0.0.1:8800", "http://[::1]:9000"],
)
def test_a_target_at_an_allowed_origin_passes(target: str) -> None:
    ORIGINS.check(target)


@pytest.mark.parametrize(
    "target",
    [
        "https://mint.example.com.evil.test",
        "https://mint.example.co",
        "https://evilmint.example.com",
        "https://mint.example.com:8443",
        "http://mint.example.com",
        "http://127.0.0.1:88",
        "http://127.0.0.1:88001",
        "https://evil.test/https://mint.example.com",
        "https://evil.test?https://mint.example.com",
        "https://mint.example.com%2eevil.test",
        "https://mint.example.com\\@evil.test",
    ],
)
def test_lookalikes_are_refused(target: str) -> None:
    with pytest.raises(MintOriginNotAllowedError):
        ORIGINS.check(target)


def test_user_info_is_refused_and_never_quoted() -> None:
    with pytest.raises(MintOriginNotAllowedError) as caught:
        ORIGINS.check("https://user:hunter2@mint.example.com")
    assert "hunter2" not in str(caught.value.message) + str(caught.value.details)


def test_the_refusal_counts_the_allowed_origins_and_an_empty_list_says_minting_is_off() -> None:
    with pytest.raises(MintOriginNotAllowedError) as caught:
        ORIGINS.check("https://evil.test")
    assert caught.value.details == {"target_origin": "https://evil.test:443", "allowed_origins": 3}
    with pytest.raises(MintOriginNotAllowedError, match="token minting is disabled"):
        MintOrigins.parse("").check("https://mint.example.com")


@pytest.mark.parametrize(
    "setting", ["mint.example.com", "https://mint.example.com/prefix", "https://u:p@mint.example.com", "ftp://x"]
)
def test_an_entry_that_is_not_an_origin_refuses_everything_without_quoting_it(setting: str) -> None:
    origins = MintOrigins.parse(f"https://mint.example.com,{setting}")
    with pytest.raises(ConfigurationError, match="entry 2") as caught:
        origins.check("https://mint.example.com")
    assert setting not in caught.value.message
