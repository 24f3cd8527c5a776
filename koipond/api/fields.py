"""What every Keeper request shares: the strict request base, the duration type, id and name patterns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from koipond.models.durations import DurationSeconds

MAX_KOI = 10_000_000
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,99}$"
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


__all__ = ["ID_PATTERN", "MAX_KOI", "NAME_PATTERN", "DurationSeconds", "Request"]


class Request(BaseModel):
    """Every request body rejects unknown fields, so typos are errors rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")
