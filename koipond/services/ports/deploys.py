"""The port of deploys: what services need from its storage (DynamoDB and in-memory adapters)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from koipond.models.deploys import Deploy, ServiceSlis
from koipond.models.history import HistoryEvent


class DeployRepository(Protocol):
    def create(self, deploy: Deploy, event: HistoryEvent) -> bool:
        """Store a new deploy and queue it for its verdict; False when a deploy with its id exists already."""
        ...

    def get(self, deploy_id: str) -> Deploy:
        """The deploy with this id.

        Raises:
            NotFoundError: no deploy has this id.
        """
        ...

    def list_for_service(self, service: str, limit: int) -> list[Deploy]:
        """The service's deploys, newest first (by deploy time)."""
        ...

    def waiting(self, limit: int) -> list[tuple[datetime, str]]:
        """(soak end, deploy id) of the deploys waiting for a verdict, earliest soak end first."""
        ...

    def save_attempt(self, deploy: Deploy) -> bool:
        """Store a failed attempt (``deploy`` at its new version); False when someone else wrote it first."""
        ...

    def save_verdict(self, deploy: Deploy, event: HistoryEvent) -> bool:
        """Store the judged ``deploy`` (at its new version) and dequeue it; False when another tick judged it."""
        ...

    def drop_waiting(self, soak_end: datetime, deploy_id: str) -> None:
        """Remove a queue entry whose deploy is judged or gone, so a stray entry can never jam the queue."""
        ...

    def events(self, subject: str) -> list[HistoryEvent]:
        """The history of ``subject`` (a deploy's is ``deploy:<id>``), oldest first."""
        ...

    def get_slis(self, service: str) -> ServiceSlis | None:
        """The service's own SLI settings; None when it has none (the defaults apply)."""
        ...

    def list_slis(self) -> list[ServiceSlis]:
        """Every service's own SLI settings, by service."""
        ...

    def put_slis(self, slis: ServiceSlis, event: HistoryEvent) -> None:
        """Create or replace a service's SLI settings, with the history event."""
        ...

    def delete_slis(self, service: str, event: HistoryEvent) -> None:
        """Remove a service's SLI settings, with the history event.

        Raises:
            NotFoundError: the service has no SLI settings of its own.
        """
        ...
