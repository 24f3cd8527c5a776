"""Telling people what koipond did: a port, with a log-only adapter until Slack workflows land."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("koipond.notify")


class Notifier(Protocol):
    def notify(self, event: str, text: str, fields: dict[str, str]) -> None:
        """Deliver a notification; never raises (notifying must not break the control path)."""
        ...


class LogNotifier:
    """Writes notifications to the log (CloudWatch on AWS)."""

    def notify(self, event: str, text: str, fields: dict[str, str]) -> None:
        log.warning("[%s] %s %s", event, text, " ".join(f"{k}={v}" for k, v in sorted(fields.items())))
