"""When to try a webhook again: a pure decision from the attempt, the answer and Retry-After (no I/O)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits between half and all of min(cap, base * 2**(n-1))."""

    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    # Enough to outlast a long Slack outage: 60 attempts span 4.3 to 8.6 hours (the waits reach the 10-minute
    # cap by the 10th), so a notification raised while Slack is down still goes out once it is back.
    max_attempts: int = 60

    def __post_init__(self) -> None:
        if not (0 < self.base_seconds <= self.cap_seconds) or self.max_attempts < 1:
            raise ValueError("need 0 < base_seconds <= cap_seconds and max_attempts >= 1")


@dataclass(frozen=True)
class Attempt:
    """One attempt's result: an HTTP status, or ``error`` (a transport error's class) when none came back."""

    number: int  # 1 for the first attempt
    http_status: int | None = None
    error: str | None = None
    retry_after: str | None = None  # the Retry-After header as sent: seconds or an HTTP date


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    next_attempt_at: datetime | None
    reason: str


# Statuses that may succeed later: throttling, timeouts and server errors. Any other 4xx means the
# URL or the payload is wrong, and sending it again will not change Slack's mind.
_RETRYABLE_4XX = frozenset({408, 429})


def decide(attempt: Attempt, now: datetime, policy: RetryPolicy, rng: random.Random) -> Decision:
    """What to do after ``attempt``, answered at ``now``.

    Args:
        attempt: the attempt's number and result.
        now: when the answer arrived (timezone-aware).
        policy: backoff base, cap and the attempts allowed.
        rng: seeded randomness for the jitter.

    Returns:
        Delivered on 2xx; failed at once on a 4xx other than 408/429, on a redirect, or when the
        attempts are used up; otherwise a retry no earlier than Retry-After (when given) or backoff.
    """
    status = attempt.http_status
    if status is not None and 200 <= status < 300:
        return Decision(Verdict.DELIVERED, None, f"HTTP {status}")
    described = f"HTTP {status}" if status is not None else (attempt.error or "no answer")
    retryable = status is None or status >= 500 or status in _RETRYABLE_4XX
    if not retryable:
        return Decision(Verdict.FAILED, None, f"{described}: not retried (the request itself was refused)")
    if attempt.number >= policy.max_attempts:
        return Decision(Verdict.FAILED, None, f"{described}: gave up after {attempt.number} attempts")
    wait = retry_after_seconds(attempt.retry_after, now)
    if wait is None:
        wait = backoff_seconds(attempt.number, policy, rng)
    return Decision(Verdict.RETRY, now + timedelta(seconds=wait), f"{described}: retry in {wait:.1f}s")


def backoff_seconds(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Equal jitter: never less than half the ceiling, so a retry storm still spreads but never hammers."""
    ceiling = min(policy.cap_seconds, policy.base_seconds * float(2 ** min(attempt - 1, 62)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or HTTP date); None when absent or unreadable."""
    if header is None:
        return None
    value = header.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are GMT by definition
    return max(0.0, (when - now).total_seconds())
