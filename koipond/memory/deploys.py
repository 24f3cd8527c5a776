"""Deploys, the queue of deploys waiting for a verdict, and each service's SLI settings, in memory."""

from __future__ import annotations

from datetime import datetime

from koipond.errors import NotFoundError
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.writes import MemoryUnitOfWork, MemoryWrite, delete, put_new, put_versioned
from koipond.models.deploys import Deploy, ServiceSlis, from_sortable, sortable
from koipond.models.history import HistoryEvent


def _queue_key(soak_end: datetime, deploy_id: str) -> str:
    """The queue's order, as DynamoDB sorts its keys: the end of the soak window (to the microsecond), then id."""
    return f"{sortable(soak_end)}#{deploy_id}"


class MemoryDeployRepository:
    def __init__(self, writes: MemoryUnitOfWork, history: MemoryHistoryRepository) -> None:
        self._writes = writes
        self._history = history
        self._deploys: dict[str, Deploy] = {}
        self._waiting: dict[str, None] = {}  # queue keys
        self._slis: dict[str, ServiceSlis] = {}

    def create(self, deploy: Deploy, event: HistoryEvent) -> bool:
        # Prevents: a deploy tool's retry (or two concurrent ones) recording the deploy twice.
        writes = [put_new(self._deploys, deploy.id, deploy), self._enqueue(deploy), self._history.append_action(event)]
        return not self._writes.try_commit(writes)

    def get(self, deploy_id: str) -> Deploy:
        deploy = self._deploys.get(deploy_id)
        if deploy is None:
            raise NotFoundError(f"no deploy {deploy_id!r}", {"id": deploy_id})
        return deploy

    def list_for_service(self, service: str, limit: int) -> list[Deploy]:
        with self._writes.lock:
            found = [d for d in self._deploys.values() if d.service == service]
        return sorted(found, key=lambda d: f"{sortable(d.at)}#{d.id}", reverse=True)[:limit]

    def waiting(self, limit: int) -> list[tuple[datetime, str]]:
        with self._writes.lock:
            keys = sorted(self._waiting)[:limit]
        found = []
        for key in keys:
            soak_end, deploy_id = key.split("#", 1)
            found.append((from_sortable(soak_end), deploy_id))
        return found

    def save_attempt(self, deploy: Deploy) -> bool:
        # Prevents: a failed attempt overwriting the verdict a concurrent tick has just written.
        return not self._writes.try_commit([self._put_next(deploy)])

    def save_verdict(self, deploy: Deploy, event: HistoryEvent) -> bool:
        # Prevents: two ticks both judging one deploy: the later one's version is stale, so it writes nothing.
        writes = [
            self._put_next(deploy),
            delete(self._waiting, _queue_key(deploy.soak_end, deploy.id)),
            self._history.append_action(event),
        ]
        return not self._writes.try_commit(writes)

    def drop_waiting(self, soak_end: datetime, deploy_id: str) -> None:
        self._writes.commit([delete(self._waiting, _queue_key(soak_end, deploy_id))])

    def events(self, subject: str) -> list[HistoryEvent]:
        return self._history.list_events(subject)

    def get_slis(self, service: str) -> ServiceSlis | None:
        return self._slis.get(service)

    def list_slis(self) -> list[ServiceSlis]:
        with self._writes.lock:
            return [self._slis[service] for service in sorted(self._slis)]

    def put_slis(self, slis: ServiceSlis, event: HistoryEvent) -> None:
        put = MemoryWrite(change=lambda: self._slis.__setitem__(slis.service, slis))
        self._writes.commit([put, self._history.append_action(event)])

    def delete_slis(self, service: str, event: HistoryEvent) -> None:
        if self.get_slis(service) is None:
            raise NotFoundError(f"service {service!r} has no SLI settings of its own", {"service": service})
        self._writes.commit([delete(self._slis, service), self._history.append_action(event)])

    def _enqueue(self, deploy: Deploy) -> MemoryWrite:
        key = _queue_key(deploy.soak_end, deploy.id)
        return MemoryWrite(change=lambda: self._waiting.__setitem__(key, None))

    def _put_next(self, deploy: Deploy) -> MemoryWrite:
        return put_versioned(self._deploys, deploy.id, deploy, deploy.version - 1)
