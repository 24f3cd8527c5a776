"""The target's stateless user tokens: minted tokens verify, anything altered does not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slacklike_target.tokens import MAX_USERS, Identity, TokenAuthority
from slacklike_target.wire import bearer_token

AUTHORITY = TokenAuthority("unit-secret")
workspaces = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
indexes = st.integers(min_value=0, max_value=MAX_USERS - 1)


@settings(max_examples=300)
@given(workspace=workspaces, index=indexes)
def test_a_minted_token_verifies_as_its_user(workspace: str, index: int) -> None:
    token = AUTHORITY.mint(workspace, index)
    assert token.startswith(f"xoxp-{workspace}-{index}-")
    assert AUTHORITY.verify(token) == Identity(workspace, index)


@settings(max_examples=300)
@given(workspace=workspaces, index=indexes, data=st.data())
def test_a_token_with_any_character_changed_is_rejected(workspace: str, index: int, data: st.DataObject) -> None:
    token = AUTHORITY.mint(workspace, index)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[position]))
    tampered = token[:position] + replacement + token[position + 1 :]
    # Changing the workspace or index to another valid one must still fail the signature.
    assert AUTHORITY.verify(tampered) is None


def test_tokens_survive_a_restart_with_the_same_secret_and_only_then() -> None:
    token = AUTHORITY.mint("pond", 42)
    assert TokenAuthority("unit-secret").verify(token) == Identity("pond", 42)
    assert TokenAuthority("another-secret").verify(token) is None


def test_the_signature_is_the_first_32_hex_chars_of_hmac_sha256() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"unit-secret", b"pond:7", hashlib.sha256).hexdigest()[:32]
    assert AUTHORITY.mint("pond", 7) == f"xoxp-pond-7-{expected}"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "xoxp-",
        "xoxb-pond-1-" + "0" * 32,
        "xoxp-pond-01-" + AUTHORITY.signature("pond", 1),
        "xoxp-pond--1-" + AUTHORITY.signature("pond", 1),
        "xoxp-pond-" + AUTHORITY.signature("pond", 1),
        "xoxp--1-" + AUTHORITY.signature("", 1),
        f"xoxp-pond-{MAX_USERS}-" + AUTHORITY.signature("pond", MAX_USERS),
        "xoxp-pond-1-" + AUTHORITY.signature("pond", 1)[:-1],
        "xoxp-pond-1-" + AUTHORITY.signature("pond", 1).upper(),
        "xoxp-pond-\u0661-" + AUTHORITY.signature("pond", 1),  # a non-ASCII decimal digit
    ],
)
def test_malformed_or_non_canonical_tokens_are_rejected(token: str) -> None:
    assert AUTHORITY.verify(token) is None


def test_workspaces_with_dashes_round_trip() -> None:
    token = AUTHORITY.mint("load-test-3", 12)
    assert AUTHORITY.verify(token) == Identity("load-test-3", 12)


@pytest.mark.parametrize(
    ("workspace", "index"), [("", 1), ("-pond", 1), ("po nd", 1), ("pond", -1), ("pond", MAX_USERS)]
)
def test_minting_refuses_what_could_never_verify(workspace: str, index: int) -> None:
    with pytest.raises(ValueError, match=r"workspace|index"):
        AUTHORITY.mint(workspace, index)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        TokenAuthority("")


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        (None, None),
        ("", None),
    ],
)
def test_bearer_tokens_are_read_from_the_authorization_header(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token
