"""History page cursors: opaque, bound to one subject and order, checked before anything is read.

A cursor is urlsafe base64 (unpadded) of the JSON list ``[1, subject, order, id of the last event
returned]``. Event ids sort by time (see :func:`koipond.ids.new_event_id`), so every store pages by them
alike; a cursor of one test's history is refused for another's.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any

from koipond.errors import BadRequestError

MAX_CURSOR_CHARS = 512
_CURSOR_VERSION = 1
_SORT_KEY = re.compile(r"^[0-9A-Za-z._:-]{1,128}$")


def encode_cursor(subject: str, sort_key: str, *, newest_first: bool) -> str:
    """The opaque cursor that continues a listing of ``subject`` after ``sort_key``."""
    raw = json.dumps([_CURSOR_VERSION, subject, _order(newest_first), sort_key], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, subject: str, *, newest_first: bool) -> str:
    """The sort key a cursor continues after.

    Raises:
        BadRequestError: the cursor is malformed, tampered with, or belongs to another subject or order.
    """
    invalid = BadRequestError(
        "the cursor is not valid for this history: use the next_cursor of the previous page",
        {"parameter": "cursor"},
    )
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        decoded: Any = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    expected = [_CURSOR_VERSION, subject, _order(newest_first)]
    if not isinstance(decoded, list) or len(decoded) != 4 or decoded[:3] != expected:
        raise invalid
    sort_key = decoded[3]
    if not isinstance(sort_key, str) or not _SORT_KEY.match(sort_key):
        raise invalid
    return sort_key


def _order(newest_first: bool) -> str:
    return "newest" if newest_first else "oldest"


def history_sort_key(at: datetime) -> str:
    """The smallest event id at or after ``at`` (event ids start with their time, see koipond.ids)."""
    return at.strftime("%Y%m%dT%H%M%S%fZ")
