"""An answer's outcome: the quick JSON path gives json.loads' answers, whatever the bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from school_container.web_api import CallOutcome, classify, json_object, outcome

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def reference(raw: bytes) -> dict[str, Any] | None:
    """What the School did before the quick path: json.loads, objects only."""
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def same(a: object, b: object) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN != NaN, its dump is equal


@settings(max_examples=400)
@given(json_values, st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"]), st.text(" \t\r\n"))
def test_encoded_json_parses_as_json_loads_parses_it(value: object, encoding: str, space: str) -> None:
    raw = (json.dumps(value) + space).encode(encoding)
    assert same(json_object(raw), reference(raw))


@settings(max_examples=400)
@given(st.binary(max_size=60).map(lambda tail: b"{" + tail) | st.binary(max_size=60))
@example(b'{"ok":true}')
@example(b'{"ok":true} x')
@example(b'{"ok":true}\n\t ')
@example(b'{"a":"\xed\xa0\x80"}')  # a lone surrogate, which surrogatepass lets through
@example(b'{"a":NaN}')
@example(b'{\x00"\x00}\x00')
@example(b"{")
def test_any_bytes_parse_as_json_loads_parses_them(raw: bytes) -> None:
    assert same(json_object(raw), reference(raw))


def test_the_outcome_classifies_the_parsed_answer() -> None:
    assert outcome(200, b'{"ok":true}') == CallOutcome("ok", 200, {"ok": True})
    assert outcome(200, b'{"ok":false}') == CallOutcome("api_error", 200, {"ok": False})
    assert outcome(200, b"[1]") == CallOutcome("bad_response", 200, None)
    assert outcome(503, b'{"ok":true}') == CallOutcome(classify(503, {"ok": True}), 503, {"ok": True})
