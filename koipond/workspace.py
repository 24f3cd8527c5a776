"""The shape of a workspace that koi and the bundled target agree on: user and channel ids, membership.

Koi ``i`` of a test acts as user ``i`` of the test's workspace. Koi pick their channels with
:func:`koi_channels` (deterministic, so every School and every restart picks the same ones) and join
them when they start; everyone is in the org-wide channel.
"""

from __future__ import annotations

ORG_WIDE_CHANNEL_NAME = "general"
ORG_WIDE_CHANNEL_ID = "CGENERAL"
# Channels koi spread over: enough that fan-out per channel stays realistic (tens of members per
# channel at a few thousand koi), few enough that every channel sees traffic.
WORKSPACE_CHANNELS = 500


def user_id(index: int) -> str:
    return f"U{index:08d}"


def user_name(index: int) -> str:
    return f"koi-{index}"


def user_index(user: str) -> int:
    """Inverse of :func:`user_id`.

    Raises:
        ValueError: not a user id of this shape.
    """
    if len(user) != 9 or not user.startswith("U") or not user[1:].isdigit():
        raise ValueError(f"not a user id: {user!r}")
    return int(user[1:])


def channel_id(number: int) -> str:
    return f"C{number:06d}"


def channel_name(channel: str) -> str:
    if channel == ORG_WIDE_CHANNEL_ID:
        return ORG_WIDE_CHANNEL_NAME
    return f"channel-{int(channel[1:])}"


def koi_channels(index: int, count: int, total: int = WORKSPACE_CHANNELS) -> list[str]:
    """The ``count`` channels koi ``index`` uses, spread so neighbouring koi share few channels."""
    count = min(count, total)
    # A stride coprime with ``total`` walks all channels; starting at index*7 staggers neighbours.
    stride = 13 if total % 13 else 1
    return [channel_id((index * 7 + j * stride) % total) for j in range(count)]
