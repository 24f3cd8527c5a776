"""Deploys, the queue of deploys waiting for a verdict, and each service's SLI settings.

Items:

| item            | pk                      | sk                    | gsi1pk               | gsi1sk        |
|-----------------|-------------------------|-----------------------|----------------------|---------------|
| deploy          | ``DEPLOY#<id>``         | ``META``              | ``DEPLOYS#<service>``| ``<at>#<id>`` |
| waiting verdict | ``DEPLOYS_PENDING``     | ``<soak end>#<id>``   |                      |               |
| SLI settings    | ``DEPLOYSLIS#<service>``| ``META``              | ``DEPLOYSLIS``       | ``<service>`` |

A deploy's id is derived from ``(service, build, at)``, so a deploy tool's retried POST lands on the same
item. The waiting-verdict items sort by the end of the soak window: the release tick reads the first few
and stops at the first one not due, so a tick costs one small Query however many deploys were judged.
A verdict is written in one transaction that also removes the deploy from the queue.
"""

from __future__ import annotations

from datetime import datetime

from koipond.errors import NotFoundError
from koipond.models.deploys import Deploy, ServiceSlis, from_sortable, sortable
from koipond.models.history import HistoryEvent
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import VersionedItems
from koipond.store.schema import DOC, GSI1_PK, GSI1_SK, META, PK, SK
from koipond.store.table import NEW_ITEM, SAME_VERSION, ConditionFailed, DynamoTable

PENDING_PK = "DEPLOYS_PENDING"
SLIS_INDEX = "DEPLOYSLIS"


def deploy_pk(deploy_id: str) -> str:
    return f"DEPLOY#{deploy_id}"


def deploys_index(service: str) -> str:
    return f"DEPLOYS#{service}"


def slis_pk(service: str) -> str:
    return f"DEPLOYSLIS#{service}"


def pending_sk(deploy: Deploy) -> str:
    return f"{sortable(deploy.soak_end)}#{deploy.id}"


DEPLOYS = VersionedItems(
    Deploy,
    keys=lambda deploy: (deploy_pk(deploy.id), META),
    index=lambda deploy: (deploys_index(deploy.service), f"{sortable(deploy.at)}#{deploy.id}"),
)


class DynamoDeployRepository:
    def __init__(self, table: DynamoTable, history: DynamoHistoryRepository) -> None:
        self._table = table
        self._history = history

    def create(self, deploy: Deploy, event: HistoryEvent) -> bool:
        try:
            self._table.transact(
                [
                    # Prevents: a deploy tool's retry (or two concurrent ones) recording the deploy twice.
                    self._table.put_action(DEPLOYS.to_item(deploy), NEW_ITEM),
                    self._table.put_action({PK: PENDING_PK, SK: pending_sk(deploy)}),
                    self._history.append_action(event),
                ]
            )
        except ConditionFailed:
            return False
        return True

    def get(self, deploy_id: str) -> Deploy:
        item = self._table.get(deploy_pk(deploy_id), META)
        if item is None:
            raise NotFoundError(f"no deploy {deploy_id!r}", {"id": deploy_id})
        return DEPLOYS.from_item(item)

    def list_for_service(self, service: str, limit: int) -> list[Deploy]:
        items = self._table.query(deploys_index(service), index=True, ascending=False, limit=limit)
        return [DEPLOYS.from_item(item) for item in items]

    def waiting(self, limit: int) -> list[tuple[datetime, str]]:
        found = []
        for item in self._table.query(PENDING_PK, limit=limit):
            soak_end, deploy_id = str(item[SK]).split("#", 1)
            found.append((from_sortable(soak_end), deploy_id))
        return found

    def save_attempt(self, deploy: Deploy) -> bool:
        try:
            # Prevents: a failed attempt overwriting the verdict a concurrent tick has just written.
            self._table.transact(
                [self._table.put_action(DEPLOYS.to_item(deploy), SAME_VERSION, {":expected": deploy.version - 1})]
            )
        except ConditionFailed:
            return False
        return True

    def save_verdict(self, deploy: Deploy, event: HistoryEvent) -> bool:
        try:
            self._table.transact(
                [
                    # Prevents: two ticks (a slow Lambda run overlapping the next, two pond tick processes)
                    # both judging one deploy: the later one's version is stale, so it writes nothing and,
                    # seeing False, does not notify either.
                    self._table.put_action(DEPLOYS.to_item(deploy), SAME_VERSION, {":expected": deploy.version - 1}),
                    self._table.delete_action(PENDING_PK, pending_sk(deploy)),
                    self._history.append_action(event),
                ]
            )
        except ConditionFailed:
            return False
        return True

    def drop_waiting(self, soak_end: datetime, deploy_id: str) -> None:
        self._table.transact([self._table.delete_action(PENDING_PK, f"{sortable(soak_end)}#{deploy_id}")])

    def events(self, subject: str) -> list[HistoryEvent]:
        return self._history.list_events(subject)

    def get_slis(self, service: str) -> ServiceSlis | None:
        item = self._table.get(slis_pk(service), META)
        return None if item is None else ServiceSlis.model_validate_json(item[DOC])

    def list_slis(self) -> list[ServiceSlis]:
        return [ServiceSlis.model_validate_json(i[DOC]) for i in self._table.query(SLIS_INDEX, index=True)]

    def put_slis(self, slis: ServiceSlis, event: HistoryEvent) -> None:
        item = {PK: slis_pk(slis.service), SK: META, GSI1_PK: SLIS_INDEX, GSI1_SK: slis.service}
        self._table.transact(
            [self._table.put_action({**item, DOC: slis.model_dump_json()}), self._history.append_action(event)]
        )

    def delete_slis(self, service: str, event: HistoryEvent) -> None:
        if self.get_slis(service) is None:
            raise NotFoundError(f"service {service!r} has no SLI settings of its own", {"service": service})
        self._table.transact([self._table.delete_action(slis_pk(service), META), self._history.append_action(event)])
