"""What every Keeper request shares: the strict request base, the duration type, id and name patterns."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from koipond.models.durations import parse_duration

MAX_KOI = 10_000_000
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,99}$"
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


def _duration_seconds(value: object) -> object:
    """``"7d"``, ``"90s"`` or ``"1h30m"`` as seconds; whole numbers pass through as seconds."""
    if isinstance(value, str):
        return parse_duration(value)  # its ValueError names the bad text
    if isinstance(value, bool) or not isinstance(value, int):
        # ValueError, not TypeError: pydantic turns only ValueError into a 422 naming the field.
        raise ValueError(f"expected a duration such as '15m' or '7d', or whole seconds; got {value!r}")
    return value


# One way to write a duration in every request body (rollout holds, deploy windows); ranges are the
# field's own business, checked where the field is.
DurationSeconds = Annotated[int, BeforeValidator(_duration_seconds)]


class Request(BaseModel):
    """Every request body rejects unknown fields, so typos are errors rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")
