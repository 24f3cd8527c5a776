"""Durations as people write them: ``90s``, ``10m``, ``2h``, ``7d``, ``1h30m``."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> int:
    """Seconds in ``text``.

    Raises:
        ValueError: not a duration such as ``90s``, ``10m``, ``2h``, ``1h30m`` or ``7d``.
    """
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return int(cleaned)
    parts = _PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 10m, 2h, 1h30m, 7d)")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1h2m5s``; the inverse of :func:`parse_duration` for whole seconds."""
    remaining = int(seconds)
    if remaining == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
