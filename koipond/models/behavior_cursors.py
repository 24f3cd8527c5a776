"""Cursors of a behavior's version listing: opaque, bound to the behavior, newest first, checked before any read."""

from __future__ import annotations

from koipond.errors import BadRequestError
from koipond.models.cursors import decode_cursor, encode_cursor


def _subject(name: str) -> str:
    # Not the behavior's history subject ("behavior:NAME"), so no event cursor passes for a version cursor.
    return f"behavior-versions:{name}"


def versions_cursor(name: str, version: int) -> str:
    """The cursor that continues ``name``'s versions after (below) ``version``."""
    return encode_cursor(_subject(name), str(version), newest_first=True)


def cursor_version(name: str, cursor: str) -> int:
    """The version a cursor of ``name``'s listing continues after.

    Raises:
        BadRequestError: the cursor is malformed, or belongs to another listing.
    """
    invalid = BadRequestError(
        "the cursor is not valid for this behavior's versions: use the next_cursor of the previous page",
        {"parameter": "cursor"},
    )
    try:
        sort_key = decode_cursor(cursor, _subject(name), newest_first=True)
    except BadRequestError:
        raise invalid from None
    if not sort_key.isdigit() or len(sort_key) > 10 or int(sort_key) < 1:  # versions are 10 digits as stored
        raise invalid
    return int(sort_key)
