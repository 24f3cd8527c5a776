"""The pure retry decision: delivered on 2xx, failed at once on a refused request, Retry-After honoured exactly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from koipond.notifications.retry import (
    Attempt,
    RetryPolicy,
    Verdict,
    backoff_seconds,
    decide,
    retry_after_seconds,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=2, cap_seconds=600, max_attempts=8)
attempts = st.integers(min_value=1, max_value=POLICY.max_attempts - 1)
seeds = st.integers(min_value=0, max_value=2**32)
retryable = st.sampled_from([408, 429, 500, 502, 503, 504, 599])


@given(number=st.integers(1, 100), status=st.integers(200, 299), seed=seeds)
def test_any_2xx_is_delivered(number: int, status: int, seed: int) -> None:
    decision = decide(Attempt(number, status), NOW, POLICY, random.Random(seed))
    assert decision.verdict is Verdict.DELIVERED
    assert decision.next_attempt_at is None


@given(number=attempts, status=st.integers(300, 499).filter(lambda s: s not in (408, 429)), seed=seeds)
def test_refused_requests_fail_at_once(number: int, status: int, seed: int) -> None:
    decision = decide(Attempt(number, status, retry_after="1"), NOW, POLICY, random.Random(seed))
    assert decision.verdict is Verdict.FAILED
    assert str(status) in decision.reason


@given(number=attempts, status=retryable, wait=st.integers(0, 86_400), seed=seeds)
def test_retry_after_seconds_is_honoured_exactly(number: int, status: int, wait: int, seed: int) -> None:
    decision = decide(Attempt(number, status, retry_after=str(wait)), NOW, POLICY, random.Random(seed))
    assert decision.verdict is Verdict.RETRY
    assert decision.next_attempt_at == NOW + timedelta(seconds=wait)


@given(number=attempts, wait=st.integers(1, 86_400), seed=seeds)
def test_retry_after_http_date_is_never_earlier(number: int, wait: int, seed: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=wait), usegmt=True)
    decision = decide(Attempt(number, 429, retry_after=header), NOW, POLICY, random.Random(seed))
    assert decision.next_attempt_at == NOW + timedelta(seconds=wait)


@given(number=attempts, error=st.sampled_from(["ConnectError", "ReadTimeout", None]), seed=seeds)
def test_transport_errors_back_off_within_the_ceiling(number: int, error: str | None, seed: int) -> None:
    decision = decide(Attempt(number, None, error), NOW, POLICY, random.Random(seed))
    assert decision.verdict is Verdict.RETRY
    assert decision.next_attempt_at is not None
    ceiling = min(POLICY.cap_seconds, POLICY.base_seconds * 2 ** (number - 1))
    waited = (decision.next_attempt_at - NOW).total_seconds()
    assert ceiling / 2 <= waited <= ceiling


@given(number=st.integers(POLICY.max_attempts, 1000), status=retryable, seed=seeds)
def test_gives_up_after_max_attempts(number: int, status: int, seed: int) -> None:
    decision = decide(Attempt(number, status, retry_after="1"), NOW, POLICY, random.Random(seed))
    assert decision.verdict is Verdict.FAILED
    assert "gave up" in decision.reason


@given(number=st.integers(1, 200), seed=seeds)
def test_backoff_is_capped_and_the_same_seed_decides_the_same(number: int, seed: int) -> None:
    first = backoff_seconds(number, POLICY, random.Random(seed))
    assert first == backoff_seconds(number, POLICY, random.Random(seed))
    assert 0 < first <= POLICY.cap_seconds


@pytest.mark.parametrize("header", ["soon", "", "-5", "1.5", "Mon, 99 Foo 2026 00:00:00 GMT"])
def test_unreadable_retry_after_falls_back_to_backoff(header: str) -> None:
    assert retry_after_seconds(header, NOW) is None
    decision = decide(Attempt(1, 503, retry_after=header), NOW, POLICY, random.Random(1))
    assert decision.next_attempt_at is not None
    assert 1 <= (decision.next_attempt_at - NOW).total_seconds() <= 2


def test_a_retry_after_date_in_the_past_means_now() -> None:
    header = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert retry_after_seconds(header, NOW) == 0


def test_a_policy_with_a_base_above_its_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="base_seconds"):
        RetryPolicy(base_seconds=10, cap_seconds=1)


def test_the_default_policy_keeps_trying_through_a_four_hour_slack_outage() -> None:
    policy = RetryPolicy()
    shortest = sum(backoff_seconds(n, policy, random.Random(0)) for n in range(1, policy.max_attempts))
    floors = sum(min(policy.cap_seconds, policy.base_seconds * 2 ** (n - 1)) / 2 for n in range(1, policy.max_attempts))
    assert shortest >= floors >= 4 * 3600
