"""Keeping webhook URLs out of logs: libraries log requests and responses at INFO/DEBUG, URLs and secrets included."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = threading.local()

# httpx logs each request's URL at INFO; botocore's parsers log every response body (the secret's
# value) at DEBUG. Filters sit on the exact loggers that emit them: a filter never sees records
# that propagate from child loggers.
_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "botocore.parsers", "botocore.endpoint")


class _DropWhileQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_state, "quiet", False)


_filter = _DropWhileQuiet()
for _name in _LOGGERS:
    logging.getLogger(_name).addFilter(_filter)


@contextmanager
def quiet_library_logs() -> Iterator[None]:
    """Within the block (this thread only), drop those libraries' log records."""
    previous = getattr(_state, "quiet", False)
    _state.quiet = True
    try:
        yield
    finally:
        _state.quiet = previous
