"""Storage items: explicit mapping between domain models and the table's item shape.

Every versioned item stores its domain model as a JSON document (``doc``) beside the key, index and
version attributes (:class:`VersionedItems`, the one mapping of them all). The version lives in its own
attribute because conditions test it; the mapping puts it back into the model on the way out so there
is one source of truth.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from koipond.models.auth import ApiKey
from koipond.models.behavior import StoredBehavior
from koipond.models.estop import EmergencyStop
from koipond.models.history import HistoryEvent
from koipond.models.rollouts import Rollout, RolloutStatus
from koipond.models.schools import School
from koipond.models.tests import LoadTest, LoadTestStatus
from koipond.store.schema import DOC, GSI1_PK, GSI1_SK, META, PK, SK, TTL_ATTRIBUTE, VERSION

Item = dict[str, Any]

ESTOP_PK = "ESTOP"
SCHOOLS_INDEX = "SCHOOLS"
KEYS_INDEX = "KEYS"
BEHAVIORS_INDEX = "BEHAVIORS"


M = TypeVar("M", bound=BaseModel)
# Every versioned model names its optimistic-locking counter ``version``.
_version_of = attrgetter("version")


@dataclass(frozen=True)
class VersionedItems(Generic[M]):
    """The mapping of one kind of versioned model: its keys, its index entry (if listed) and its version.

    Attributes:
        model: the domain model stored as the item's document.
        keys: the item's partition and sort key.
        index: the item's index partition and sort key; None for an item no listing reads.
    """

    model: type[M]
    keys: Callable[[M], tuple[str, str]]
    index: Callable[[M], tuple[str, str]] | None = None

    def to_item(self, model: M) -> Item:
        pk, sk = self.keys(model)
        item: Item = {PK: pk, SK: sk, VERSION: int(_version_of(model)), DOC: model.model_dump_json()}
        if self.index is not None:
            item[GSI1_PK], item[GSI1_SK] = self.index(model)
        return item

    def from_item(self, item: Item) -> M:
        return self.model.model_validate_json(item[DOC]).model_copy(update={"version": item[VERSION]})

    def next_version(self, model: M, expected_version: int) -> tuple[M, Item]:
        """``model`` as version ``expected_version + 1``, and its item (to put if the stored one is still there)."""
        stored = model.model_copy(update={"version": expected_version + 1})
        return stored, self.to_item(stored)


def loadtest_pk(test_id: str) -> str:
    return f"TEST#{test_id}"


def loadtests_index(status: LoadTestStatus) -> str:
    return f"TESTS#{status.value}"


def rollout_pk(rollout_id: str) -> str:
    return f"ROLLOUT#{rollout_id}"


def rollouts_index(status: RolloutStatus) -> str:
    return f"ROLLOUTS#{status.value}"


# The models listed by status, newest first.
L = TypeVar("L", LoadTest, Rollout)


def _listed_by_status(model: type[L], pk: Callable[[str], str], index: Callable[[Any], str]) -> VersionedItems[L]:
    """Items keyed by id, listed in their status's index partition by creation (ties by id)."""
    return VersionedItems(
        model,
        keys=lambda listed: (pk(listed.id), META),
        index=lambda listed: (index(listed.status), f"{listed.created_at.isoformat()}#{listed.id}"),
    )


LOADTESTS = _listed_by_status(LoadTest, loadtest_pk, loadtests_index)
ROLLOUTS = _listed_by_status(Rollout, rollout_pk, rollouts_index)


def history_pk(subject: str) -> str:
    return f"HIST#{subject}"


def event_to_item(event: HistoryEvent, expires_at: int | None = None) -> Item:
    """``expires_at`` (epoch seconds, the TTL) is left out for events kept for good."""
    item: Item = {PK: history_pk(event.subject), SK: event.id, DOC: event.model_dump_json()}
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = expires_at
    return item


def event_from_item(item: Item) -> HistoryEvent:
    return HistoryEvent.model_validate_json(item[DOC])


def school_pk(school_id: str) -> str:
    return f"SCHOOL#{school_id}"


FIRST_SEEN = "first_seen_at"
LAST_POLL = "last_poll_at"  # beside the document too, so a condition can name it


RUNNING_DIGEST = "running_digest"  # of the School's koi per test; the map itself is its own item
ASSIGNED_KOI = "assigned_koi"  # written by the allocator with each assignment, beside the heartbeat
ASSIGNMENT_VERSION = "assignment_version"


def heartbeat_update(
    school_id: str, capacity: int, running: Mapping[str, int], at: datetime, ttl_seconds: int
) -> tuple[str, Item, dict[str, str]]:
    """The UpdateItem of one poll: the School's report as a document, its first poll's time kept.

    The report keeps totals of ``running`` (koi per test) and a digest of it, so the write costs the
    same however many tests the School runs; the map itself is written apart, only when the digest
    changes (see :meth:`koipond.store.schools.DynamoSchoolRepository.save_running`).

    Returns:
        The update expression, its values and its attribute names.
    """
    report = {
        "id": school_id,
        "capacity": capacity,
        "running_koi": sum(running.values()),
        "running_tests": sum(1 for koi in running.values() if koi),
        "last_poll_at": at.isoformat(),
    }
    update = (
        "SET #doc = :doc, #gpk = :gpk, #gsk = :gsk, #ttl = :ttl, #last = :at, #first = if_not_exists(#first, :at),"
        " #digest = :digest"
    )
    values: Item = {
        ":doc": json.dumps(report),
        ":digest": running_digest(running),
        ":gpk": SCHOOLS_INDEX,
        ":gsk": school_id,
        ":ttl": int(at.timestamp()) + ttl_seconds,
        ":at": at.isoformat(),
    }
    names = {
        "#doc": DOC,
        "#gpk": GSI1_PK,
        "#gsk": GSI1_SK,
        "#ttl": TTL_ATTRIBUTE,
        "#first": FIRST_SEEN,
        "#last": LAST_POLL,
        "#digest": RUNNING_DIGEST,
    }
    return update, values, names


def running_digest(running: Mapping[str, int]) -> str:
    """A short fingerprint of a School's koi per test: equal maps, equal digests."""
    text = json.dumps(sorted(running.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def school_from_item(item: Item) -> School | None:
    """The School an item describes; None for an item the allocator wrote before the School's first poll."""
    if DOC not in item:
        return None
    report = json.loads(item[DOC])
    legacy = report.pop("running", None)  # heartbeats written before the totals: a day at most (TTL)
    if isinstance(legacy, dict):
        report.update(running_koi=sum(legacy.values()), running_tests=sum(1 for k in legacy.values() if k))
    return School.model_validate(
        {
            **report,
            "first_seen_at": item.get(FIRST_SEEN, report.get("last_poll_at")),
            "assigned_koi": item.get(ASSIGNED_KOI, 0),
            "assignment_version": item.get(ASSIGNMENT_VERSION),
        }
    )


ESTOP = VersionedItems(EmergencyStop, keys=lambda _: (ESTOP_PK, META))


def key_pk(key_id: str) -> str:
    return f"KEY#{key_id}"


def key_to_item(key: ApiKey) -> Item:
    return {PK: key_pk(key.id), SK: META, GSI1_PK: KEYS_INDEX, GSI1_SK: key.id, DOC: key.model_dump_json()}


def key_from_item(item: Item) -> ApiKey:
    return ApiKey.model_validate_json(item[DOC])


def behavior_pk(name: str) -> str:
    return f"BEHAVIOR#{name}"


def behavior_sk(version: int) -> str:
    return f"V#{version:010d}"


BEHAVIORS = VersionedItems(
    StoredBehavior,
    keys=lambda behavior: (behavior_pk(behavior.name), behavior_sk(behavior.version)),
    index=lambda behavior: (BEHAVIORS_INDEX, f"{behavior.name}#{behavior.version:010d}"),
)
