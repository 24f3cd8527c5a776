"""History that stays small: compact reallocation details, which kinds expire, and page cursors."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from koipond import envvars
from koipond.errors import BadRequestError
from koipond.models.cursors import decode_cursor, encode_cursor
from koipond.models.history import EXPIRING_KINDS, PERMANENT_KINDS, EventKind, HistoryEvent, expires_at
from koipond.services.history import describe_reallocation, reallocation_details
from koipond.settings import Settings

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SORT_KEY = "20261128T120000000001Z-abcd1234"

# School ids as the poll route accepts them (ID_PATTERN), up to its 64 characters.
school_ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,63}", fullmatch=True)
koi_maps = st.dictionaries(school_ids, st.integers(min_value=0, max_value=10_000_000), max_size=1000)


def event(kind: EventKind) -> HistoryEvent:
    return HistoryEvent(id=SORT_KEY, subject="lt-1", kind=kind, actor="keeper", at=AT)


def test_reallocation_details_count_schools_and_list_the_ones_that_changed() -> None:
    before = {"school-1": 500, "school-2": 500, "school-3": 0}
    after = {"school-2": 400, "school-3": 300, "school-4": 300}
    assert reallocation_details(before, after) == {
        "koi": 1000,
        "previous_koi": 1000,
        "schools": 3,
        "previous_schools": 2,
        "gained": ["school-3", "school-4"],
        "gained_more": 0,
        "lost": ["school-1"],
        "lost_more": 0,
    }


def test_reallocation_details_list_at_most_max_ids_and_count_the_rest() -> None:
    after = {f"school-{i:04d}": 10 for i in range(1000)}
    details = reallocation_details({}, after, max_ids=20)
    assert details["gained"] == [f"school-{i:04d}" for i in range(20)]
    assert details["gained_more"] == 980
    assert (details["lost"], details["lost_more"]) == ([], 0)


def test_a_whole_pond_moving_fits_in_2_kb_where_the_maps_took_40() -> None:
    before = {f"school-{i}": 5000 for i in range(1000)}
    after = {f"school-{i}": 5000 for i in range(1000, 2000)}
    assert len(json.dumps({"koi_per_school": after, "previous_koi_per_school": before})) > 40_000
    assert len(json.dumps(reallocation_details(before, after))) < 2048


def test_longest_school_ids_are_listed_fewer_to_stay_under_2_kb() -> None:
    before = {f"{i:04d}".ljust(64, "a"): 5000 for i in range(1000)}
    after = {f"{i:04d}".ljust(64, "b"): 5000 for i in range(1000)}
    details = reallocation_details(before, after, max_ids=20)
    assert 0 < len(details["gained"]) < 20
    assert len(details["gained"]) + details["gained_more"] == 1000
    assert len(json.dumps(details)) < 2048


@given(before=koi_maps, after=koi_maps, max_ids=st.integers(min_value=0, max_value=20))
def test_details_stay_under_2_kb_and_their_counts_add_up(
    before: dict[str, int], after: dict[str, int], max_ids: int
) -> None:
    details = reallocation_details(before, after, max_ids)
    assert len(json.dumps(details).encode()) < 2048
    holding_before = {s for s, koi in before.items() if koi}
    holding_after = {s for s, koi in after.items() if koi}
    assert (details["koi"], details["previous_koi"]) == (sum(after.values()), sum(before.values()))
    assert (details["schools"], details["previous_schools"]) == (len(holding_after), len(holding_before))
    assert len(details["gained"]) + details["gained_more"] == len(holding_after - holding_before)
    assert len(details["lost"]) + details["lost_more"] == len(holding_before - holding_after)
    assert set(details["gained"]) <= holding_after - holding_before
    assert set(details["lost"]) <= holding_before - holding_after
    assert details["gained"] == sorted(details["gained"])
    assert details["lost"] == sorted(details["lost"])
    assert len(details["gained"]) <= max_ids
    assert len(details["lost"]) <= max_ids


@settings(max_examples=50)
@given(
    sizes=st.tuples(*[st.integers(min_value=0, max_value=1000)] * 2),
    shift=st.integers(min_value=0, max_value=1000),
    length=st.integers(min_value=5, max_value=64),
)
def test_details_of_big_ponds_stay_under_2_kb(sizes: tuple[int, int], shift: int, length: int) -> None:
    def pond(count: int, first: int) -> dict[str, int]:
        return {f"{i:05d}".ljust(length, "s"): 1 + i % 7 for i in range(first, first + count)}

    before, after = pond(sizes[0], 0), pond(sizes[1], shift)
    details = reallocation_details(before, after)
    assert len(json.dumps(details).encode()) < 2048
    assert len(details["gained"]) + details["gained_more"] == len(after.keys() - before.keys())
    assert len(details["lost"]) + details["lost_more"] == len(before.keys() - after.keys())


def test_describe_names_the_schools_left_and_joined_and_counts_the_others() -> None:
    before = {"school-3": 10, "school-9": 10, "school-1": 10}
    after = {"school-1": 10, **{f"school-{i}": 10 for i in range(12, 16)}}
    details = reallocation_details(before, after, max_ids=1)
    assert details["gained"] == ["school-12"]
    assert describe_reallocation(reallocation_details(before, after, max_ids=2)) == (
        "koi left school-3, school-9; koi assigned to school-12, school-13 (+2 more)"
    )
    assert describe_reallocation(reallocation_details(before, after, max_ids=0)) == (
        "koi left 2 Schools; koi assigned to 4 Schools"
    )


def test_describe_a_reallocation_that_kept_the_same_schools() -> None:
    details = reallocation_details({"a": 10, "b": 10}, {"a": 5, "b": 15})
    assert describe_reallocation(details) == "koi moved within the same 2 Schools"


def test_every_kind_either_expires_or_is_kept() -> None:
    assert set(EventKind) == EXPIRING_KINDS | PERMANENT_KINDS
    assert not EXPIRING_KINDS & PERMANENT_KINDS


@pytest.mark.parametrize(
    "kind",
    [
        EventKind.TEST_CREATED,
        EventKind.TEST_SCALED,
        EventKind.TEST_SHED,
        EventKind.TEST_STOPPED,
        EventKind.TEST_RESUMED,
        EventKind.ESTOP_ACTIVATED,
        EventKind.ESTOP_LIFTED,
        EventKind.KEY_REVOKED,
        EventKind.ROLLOUT_ADVANCED,
        EventKind.DEPLOY_RECORDED,
        EventKind.DEPLOY_JUDGED,
    ],
)
def test_actions_of_people_and_their_consequences_never_expire(kind: EventKind) -> None:
    assert kind in PERMANENT_KINDS
    assert expires_at(event(kind), timedelta(days=30)) is None


def test_a_reallocation_expires_after_the_retention() -> None:
    assert expires_at(event(EventKind.TEST_REALLOCATED), timedelta(days=7)) == AT + timedelta(days=7)


def test_retention_setting_reads_its_variable_and_refuses_absurd_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().history_retention_days == 30
    monkeypatch.setenv(envvars.HISTORY_RETENTION_DAYS, "7")
    assert Settings().history_retention_days == 7
    for absurd in ("0", "3651"):
        monkeypatch.setenv(envvars.HISTORY_RETENTION_DAYS, absurd)
        with pytest.raises(ValidationError):
            Settings()


@pytest.mark.parametrize("newest_first", [False, True])
def test_a_cursor_gives_back_its_sort_key(newest_first: bool) -> None:
    cursor = encode_cursor("lt-1", SORT_KEY, newest_first=newest_first)
    assert cursor.replace("-", "").replace("_", "").isalnum()
    assert decode_cursor(cursor, "lt-1", newest_first=newest_first) == SORT_KEY


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param(encode_cursor("lt-2", SORT_KEY, newest_first=False), id="another test's"),
        pytest.param(encode_cursor("lt-1", SORT_KEY, newest_first=True), id="the other order's"),
        pytest.param("not*base64", id="not base64"),
        pytest.param(_b64("not json"), id="not json"),
        pytest.param(_b64('{"s": "lt-1"}'), id="not a list"),
        pytest.param(_b64(json.dumps([2, "lt-1", "oldest", SORT_KEY])), id="unknown version"),
        pytest.param(_b64(json.dumps([1, "lt-1", "oldest", ""])), id="empty sort key"),
        pytest.param(_b64(json.dumps([1, "lt-1", "oldest", "x#HIST#lt-2"])), id="key with separators"),
        pytest.param(_b64(json.dumps([1, "lt-1", "oldest", 7])), id="sort key not a string"),
        pytest.param("A" * 600, id="too long"),
    ],
)
def test_a_cursor_that_is_not_this_listings_is_refused(cursor: str) -> None:
    with pytest.raises(BadRequestError) as refused:
        decode_cursor(cursor, "lt-1", newest_first=False)
    assert refused.value.details == {"parameter": "cursor"}
