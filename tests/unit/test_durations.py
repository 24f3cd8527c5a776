"""One duration grammar: ``parse_duration`` and ``format_duration``, and behavior files reading the same."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from koipond.models.behavior import MAX_EVERY_SECONDS, FormationStart
from koipond.models.durations import DURATION_UNITS, format_duration, parse_duration

# The two grammars as they were before they became one (issue 16): every input either accepted must
# still be accepted, meaning the same number of seconds.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OLD_PART = re.compile(r"(\d+)([smhdw])")
_OLD_BEHAVIOR = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def old_parse_duration(text: str) -> int:
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return int(cleaned)
    parts = _OLD_PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(text)
    return sum(int(n) * DURATION_UNITS[u] for n, u in parts)


def old_behavior_duration(text: str) -> timedelta | None:
    match = _OLD_BEHAVIOR.fullmatch(text)
    if not text or match is None:
        return None
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


parts = st.lists(st.tuples(st.integers(0, 10**6).map(str), st.sampled_from("smhdwSMHDW")), min_size=1, max_size=5)
written = st.builds(
    lambda ps, lead, trail: lead + "".join(n + u for n, u in ps) + trail,
    parts,
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(["", " ", "\n"]),
)
# Near misses: the grammar's characters and a few it refuses, in any order.
scrambled = st.text(alphabet="0123456789smhdwSMH .-+:", max_size=12)
any_text = st.one_of(written, scrambled, st.text(max_size=8), st.integers(0, 10**9).map(str))


def accepts(text: str) -> int | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


@given(st.integers(0, 10**12))
def test_format_then_parse_gives_back_the_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(written)
def test_parse_then_format_then_parse_is_stable(text: str) -> None:
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == seconds


@given(any_text)
def test_every_duration_accepted_before_means_the_same_seconds(text: str) -> None:
    try:
        before = old_parse_duration(text)
    except ValueError:
        return
    assert parse_duration(text) == before


@given(
    st.one_of(
        any_text,
        st.builds(
            lambda d, h, m, s: d + h + m + s, *(st.sampled_from(["", "1" + u, "07" + u, "36" + u]) for u in "dhms")
        ),
    )
)
def test_every_behavior_duration_accepted_before_means_the_same_interval(text: str) -> None:
    before = old_behavior_duration(text)
    if before is None or not timedelta(minutes=1) <= before <= timedelta(seconds=MAX_EVERY_SECONDS):
        return  # out of range for a formation then as now (the most grew smaller: a year)
    assert FormationStart(every=text).interval == before


@given(any_text)
def test_formation_every_accepts_exactly_the_durations_of_a_minute_or_more(text: str) -> None:
    seconds = accepts(text)
    if seconds is not None and 60 <= seconds <= MAX_EVERY_SECONDS:
        assert FormationStart(every=text).interval == timedelta(seconds=seconds)
    else:
        with pytest.raises(ValidationError, match=r"expected a duration of at (least 1m|most 366d)"):
            FormationStart(every=text)


@pytest.mark.parametrize(("text", "seconds"), [("1w", 604800), ("30m1h", 5400), (" 2H ", 7200), ("3600", 3600)])
def test_formation_every_reads_what_the_cli_reads(text: str, seconds: int) -> None:
    assert FormationStart(every=text).interval == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", " ", "1.5h", "-1h", "1h 30m", "h", "1y", "²"])
def test_not_a_duration_names_the_text_and_gives_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration: .* \(use e\.g\. 90s, 10m, 2h, 1h30m, 7d\)"):
        parse_duration(text)


def test_an_every_longer_than_a_year_is_a_validation_error_not_a_crash() -> None:
    assert FormationStart(every=f"{MAX_EVERY_SECONDS}s").interval == timedelta(days=366)
    for text in ("367d", "1000000000d", f"{10**30}s"):
        with pytest.raises(ValidationError, match=f"at most 366d; got '{text}'"):
            FormationStart(every=text)


@given(st.integers(60, MAX_EVERY_SECONDS), st.floats(0, 4_102_444_800))  # up to 2100-01-01
def test_every_valid_every_has_a_next_firing_after_any_moment(seconds: int, after: float) -> None:
    start = FormationStart(every=f"{seconds}s")
    fire = start.next_after(_EPOCH + timedelta(seconds=after))
    assert fire is not None
    assert timedelta(0) < fire - (_EPOCH + timedelta(seconds=after)) <= timedelta(seconds=seconds)
