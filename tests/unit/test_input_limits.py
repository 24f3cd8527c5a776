"""Shared text types and behavior paths: what people may write, checked the same way everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from koipond.models.behavior import MAX_DOCUMENT_BYTES, BehaviorDocument, TargetPath
from koipond.models.text import Reason, Tag, unsafe_character_problem

tags = TypeAdapter(Tag)
reasons = TypeAdapter(Reason)
paths = TypeAdapter(TargetPath)


@pytest.mark.parametrize(
    "text",
    ["\x00", "\x07", "\x1b[2J", "\r", "\n", "\t", "\x7f", "\x85", "\u2028", "\u202e", "\u2066"],
    ids=["nul", "bell", "ansi", "cr", "lf", "tab", "del", "nel", "line-separator", "rlo", "lri"],
)
def test_a_tag_refuses_control_and_formatting_characters_naming_them(text: str) -> None:
    with pytest.raises(ValidationError, match=f"U\\+{ord(text[0]):04X} at position 3"):
        tags.validate_python("tag" + text)


@pytest.mark.parametrize("tag", ["", "t" * 65, "t" * 10_000], ids=["empty", "65", "10k"])
def test_a_tag_is_1_to_64_characters(tag: str) -> None:
    with pytest.raises(ValidationError):
        tags.validate_python(tag)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Cf")), min_size=1, max_size=64))
def test_any_printable_tag_up_to_64_characters_is_accepted(tag: str) -> None:
    assert tags.validate_python(tag) == tag


def test_a_reason_may_hold_line_feeds_and_tabs_but_no_other_control_character() -> None:
    assert reasons.validate_python("p99 above 2s\n\tsee the dashboard") == "p99 above 2s\n\tsee the dashboard"
    for bad in ("a\r\nb", "a\x1b[31mb", "a\x00", "a\u202eb"):
        with pytest.raises(ValidationError):
            reasons.validate_python(bad)
    with pytest.raises(ValidationError):
        reasons.validate_python("r" * 501)


def test_unsafe_character_problem_is_none_for_plain_text() -> None:
    assert unsafe_character_problem("nightly chat-api 🐟") is None
    assert unsafe_character_problem("two\nlines", lines=True) is None
    assert unsafe_character_problem("two\nlines") is not None


@pytest.mark.parametrize(
    "path",
    ["/", "/api/chat.postMessage", "/api/{channel.id}/history?limit=50", "/a..b/.well-known", "/files/%20x"],
)
def test_paths_on_the_target_are_accepted(path: str) -> None:
    assert paths.validate_python(path) == path


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("//evil.example/x", "single '/'"),
        ("https://evil.example/x", "single '/'"),
        ("api", "single '/'"),
        ("/\\evil.example", "backslashes"),
        ("/a b", "whitespace"),
        ("/a\u00a0b", "whitespace"),
        ("/a\r\nb", "U+000D"),
        ("/../etc", "'..' segments"),
        ("/a/..", "'..' segments"),
        ("/a/%2E%2e/b", "'..' segments"),
        ("/a/./b", "'..' segments"),
        ("/a/..?x=1", "'..' segments"),
    ],
)
def test_paths_that_leave_the_target_or_split_the_request_are_refused(path: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem.replace("\\", "\\\\").replace("+", "\\+")):
        paths.validate_python(path)


def document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "description": "d",
        "actions": {"a": {"method": "POST", "path": "/x", "rate_per_hour": 1}},
    }
    return {**base, **changes}


def test_a_document_over_256_kib_as_stored_is_refused_naming_the_limit() -> None:
    body = {"text": "x" * MAX_DOCUMENT_BYTES}
    with pytest.raises(ValidationError, match=r"the limit is 262,144 bytes \(256 KiB\)"):
        BehaviorDocument.model_validate(
            document(actions={"a": {"method": "POST", "path": "/x", "rate_per_hour": 1, "body": body}})
        )


def test_control_characters_in_a_body_count_as_stored_escaped() -> None:
    # "\u0001" is six bytes in the stored JSON: the limit is measured on what DynamoDB would hold.
    body = {"text": "\x01" * (MAX_DOCUMENT_BYTES // 6 + 1)}
    with pytest.raises(ValidationError, match="256 KiB"):
        BehaviorDocument.model_validate(
            document(actions={"a": {"method": "POST", "path": "/x", "rate_per_hour": 1, "body": body}})
        )
