"""The history port's contract, held by the DynamoDB and the in-memory adapters alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from koipond.clock import FixedClock
from koipond.errors import BadRequestError, StaleVersionError
from koipond.models.cursors import encode_cursor
from koipond.models.history import EventKind
from tests.contract.conftest import RETENTION_DAYS, Stores, event


def test_a_subjects_events_list_oldest_first_or_newest_first(stores: Stores, clock: FixedClock) -> None:
    made = [event(clock, "lt-1", details={"n": n}) for n in range(3)]
    for one in reversed(made):
        stores.history.append(one)
    stores.history.append(event(clock, "lt-2"))
    assert stores.history.list_events("lt-1") == made
    assert stores.history.list_events("lt-1", newest_first=True, limit=2) == made[::-1][:2]


def test_an_event_is_never_overwritten(stores: Stores, clock: FixedClock) -> None:
    first = event(clock, "lt-1", note="first")
    stores.history.append(first)
    with pytest.raises(StaleVersionError):
        stores.writes.commit([stores.history.append_action(first.model_copy(update={"reason": "again"}))])
    assert stores.history.list_events("lt-1") == [first]


def test_expired_events_are_left_out_only_when_asked_with_now(stores: Stores, clock: FixedClock) -> None:
    reallocated = event(clock, "lt-1", EventKind.TEST_REALLOCATED)
    scaled = event(clock, "lt-1")
    stores.history.append(reallocated)
    stores.history.append(scaled)
    later = clock.now() + timedelta(days=RETENTION_DAYS, seconds=1)
    assert stores.history.list_events("lt-1", now=later) == [scaled]
    assert stores.history.list_events("lt-1", now=clock.now()) == [reallocated, scaled]
    assert stores.history.list_events("lt-1") == [reallocated, scaled]


@pytest.mark.parametrize("newest_first", [False, True])
def test_pages_cover_every_unexpired_event_once_and_the_last_has_no_cursor(
    stores: Stores, clock: FixedClock, newest_first: bool
) -> None:
    made = [event(clock, "lt-1", details={"n": n}) for n in range(7)]
    for one in made:
        stores.history.append(one)
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = stores.history.page("lt-1", limit=3, cursor=cursor, newest_first=newest_first, now=clock.now())
        seen += page
        pages += 1
        if cursor is None:
            break
    assert seen == (made[::-1] if newest_first else made)
    assert pages == 3


def test_a_page_as_long_as_the_rest_has_no_next_cursor(stores: Stores, clock: FixedClock) -> None:
    for n in range(3):
        stores.history.append(event(clock, "lt-1", details={"n": n}))
    page, cursor = stores.history.page("lt-1", limit=3, now=clock.now())
    assert len(page) == 3
    assert cursor is None


def test_paging_skips_expired_events(stores: Stores, clock: FixedClock) -> None:
    kept = event(clock, "lt-1")
    stores.history.append(event(clock, "lt-1", EventKind.TEST_REALLOCATED))
    stores.history.append(kept)
    later = clock.now() + timedelta(days=RETENTION_DAYS, seconds=1)
    assert stores.history.page("lt-1", limit=5, now=later) == ([kept], None)


def test_a_cursor_of_another_subject_or_order_is_refused(stores: Stores, clock: FixedClock) -> None:
    for n in range(3):
        stores.history.append(event(clock, "lt-1", details={"n": n}))
    _, cursor = stores.history.page("lt-1", limit=1, now=clock.now())
    assert cursor is not None
    with pytest.raises(BadRequestError):
        stores.history.page("lt-2", limit=1, cursor=cursor, now=clock.now())
    with pytest.raises(BadRequestError):
        stores.history.page("lt-1", limit=1, cursor=cursor, newest_first=True, now=clock.now())
    with pytest.raises(BadRequestError):
        stores.history.page("lt-1", limit=1, cursor="not-a-cursor", now=clock.now())


def test_a_cursor_continues_after_its_event_even_if_written_by_hand(stores: Stores, clock: FixedClock) -> None:
    made = [event(clock, "lt-1", details={"n": n}) for n in range(3)]
    for one in made:
        stores.history.append(one)
    cursor = encode_cursor("lt-1", made[0].id, newest_first=False)
    assert stores.history.page("lt-1", limit=5, cursor=cursor, now=clock.now()) == (made[1:], None)
