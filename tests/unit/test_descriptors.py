"""A School's room for koi under the open-file limit, and the capacity it advertises from it."""

from __future__ import annotations

import logging
import resource

import pytest
from hypothesis import given
from hypothesis import strategies as st

from school_container.descriptors import RESERVED_DESCRIPTORS, koi_room, raise_open_file_limit
from school_container.main import SPLIT_SLACK, koi_capacity
from school_container.settings import SchoolSettings


@given(st.integers(min_value=0, max_value=2_000_000), st.integers(min_value=1, max_value=100_000))
def test_koi_room_is_what_the_http_pool_and_the_reserve_leave(limit: int, http: int) -> None:
    room = koi_room(limit, http)
    assert room >= 0
    assert room + http + RESERVED_DESCRIPTORS >= limit
    if limit >= http + RESERVED_DESCRIPTORS:
        assert room + http + RESERVED_DESCRIPTORS == limit


def settings(capacity: int, http: int) -> SchoolSettings:
    return SchoolSettings(keeper_url="http://127.0.0.1:1", token="k", school_capacity=capacity, max_connections=http)


def test_capacity_is_lowered_to_what_descriptors_allow_and_said(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "koipond.school"):
        assert koi_capacity(settings(5000, 100), open_file_limit=1024) == 1024 - 100 - RESERVED_DESCRIPTORS
    assert "capacity lowered from 5000 to 860 koi: the open-file limit is 1024" in caplog.text


def test_a_capacity_that_fits_is_kept_quietly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "koipond.school"):
        assert koi_capacity(settings(5000, 2000), open_file_limit=1_048_576) == 5000
    assert caplog.text == ""


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, hard, 4096) - 1  # lowering the soft limit needs no privilege; raising it back neither
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        assert raise_open_file_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_several_workers_advertise_the_sum_of_their_rooms(caplog: pytest.LogCaptureFixture) -> None:
    room = 1024 - 100 - RESERVED_DESCRIPTORS
    with caplog.at_level(logging.WARNING, "koipond.school"):
        assert koi_capacity(settings(100_000, 100), open_file_limit=1024, workers=3) == 3 * (room - SPLIT_SLACK)
    assert "3 worker(s)" in caplog.text
    assert koi_capacity(settings(1000, 100), open_file_limit=1024, workers=3) == 1000, "the setting is the School's"
