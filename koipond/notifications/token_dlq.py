"""The release tick's "token_dlq" step: one notification per episode of a non-empty token dead-letter queue.

It belongs to notifications, not tokens: it keeps a notification episode and notifies, while the token
slice must never import notifications, so the DLQ reaches it only as a callable returning a DlqSummary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from koipond.clock import Clock
from koipond.notifications.kinds import NotificationKind, Notifier
from koipond.notifications.models import Episode, stamp
from koipond.notifications.ports import NotificationRepository
from koipond.tokens.models import DlqSummary

EPISODE = "token_dlq"


class TokenDlqWatcher:
    """An episode opens when the DLQ is first seen non-empty and closes once it has drained."""

    def __init__(
        self,
        dlq: Callable[[], DlqSummary],
        repo: NotificationRepository,
        notifier: Notifier,
        clock: Clock,
    ) -> None:
        self._dlq = dlq
        self._repo = repo
        self._notifier = notifier
        self._clock = clock

    def check(self) -> dict[str, Any]:
        """Read the DLQ depth; open, notify or close the episode. Returns a summary for the tick's log."""
        summary = self._dlq()
        episode = self._repo.episode(EPISODE)
        if summary.depth == 0 and summary.in_flight == 0:
            if episode is not None:
                self._repo.close_episode(EPISODE)
                return {"depth": 0, "episode": "closed"}
            return {}  # the usual case: nothing for the tick's log
        if episode is None:
            now = self._clock.now()
            opened = self._repo.open_episode(EPISODE, now)
            episode = Episode(started_at=now) if opened else self._repo.episode(EPISODE)
        if episode is None:
            return {"depth": summary.depth}  # opened and closed by others meanwhile
        started_at = stamp(episode.started_at)
        if not episode.notified:
            self._notify(summary, started_at)
            self._repo.mark_episode_notified(EPISODE)
        return {"depth": summary.depth, "episode": started_at}

    def _notify(self, summary: DlqSummary, started_at: str) -> None:
        text = (
            f"{summary.depth} token batch(es) failed for good and wait in the dead-letter queue. "
            "See why with `koipond tokens dlq`, fix the cause, then `koipond tokens redrive`."
        )
        fields = {"depth": str(summary.depth), "in_flight": str(summary.in_flight), "since": started_at}
        # The key names the episode: a tick that crashed after notifying notifies again, and the outbox keeps one.
        self._notifier.notify(NotificationKind.TOKEN_DLQ_NOT_EMPTY, text, fields, f"token_dlq#{started_at}")
