"""Room for koi under the open-file limit: every connected koi holds a socket, so the limit caps a School.

Container runtimes commonly start processes with a soft limit of 1,024 descriptors under a far higher
hard limit; a School left at the soft limit would fail its 1,000th websocket with EMFILE. So it raises
the soft limit to the hard one at start (which needs no privilege), and advertises to the Keeper no
more koi than the descriptors left after its HTTP pool, so koi it cannot connect are never assigned.
"""

from __future__ import annotations

import resource

# Besides koi and the HTTP pool: stdio, the event loops' own descriptors (uvloop's and pyreqwest's),
# the probe server, the Keeper and token clients, and headroom for a reconnect racing a close.
RESERVED_DESCRIPTORS = 64


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft  # e.g. an unlimited hard limit the kernel caps lower: keep what we have
    return hard


def koi_room(open_file_limit: int, http_connections: int) -> int:
    """How many koi fit under ``open_file_limit`` beside ``http_connections`` pooled HTTP connections."""
    if open_file_limit == resource.RLIM_INFINITY:
        return 1_000_000
    return max(0, open_file_limit - http_connections - RESERVED_DESCRIPTORS)
