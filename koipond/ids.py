"""Identifiers: short, URL-safe, time-sortable where order matters."""

from __future__ import annotations

import secrets
from datetime import datetime

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: no i/l/o/u confusion


def _random_part(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_test_id() -> str:
    return f"lt-{_random_part(10)}"


def new_token_job_id() -> str:
    return f"tj-{_random_part(10)}"


def new_key_id() -> str:
    return f"key-{_random_part(10)}"


def new_event_id(at: datetime) -> str:
    """Sorts by time first (microseconds), then a random tail so concurrent events never collide."""
    return f"{at.strftime('%Y%m%dT%H%M%S%fZ')}-{_random_part(8)}"
