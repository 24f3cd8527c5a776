"""Storage items: explicit mapping between domain models and the table's item shape.

Every item stores its domain model as a JSON document (``doc``) beside the key, index and version
attributes. The version lives in its own attribute because conditions test it; the mapping puts it
back into the model on the way out so there is one source of truth.
"""

from __future__ import annotations

from typing import Any

from koipond.models.allocation import Allocation
from koipond.models.auth import ApiKey
from koipond.models.behavior import StoredBehavior
from koipond.models.estop import EmergencyStop
from koipond.models.history import HistoryEvent
from koipond.models.schools import School
from koipond.models.tests import LoadTest, LoadTestStatus
from koipond.store.schema import DOC, GSI1_PK, GSI1_SK, META, PK, SK, TTL_ATTRIBUTE, VERSION

Item = dict[str, Any]

ALLOCATION_PK = "ALLOCATION"
ESTOP_PK = "ESTOP"
SCHOOLS_INDEX = "SCHOOLS"
KEYS_INDEX = "KEYS"
BEHAVIORS_INDEX = "BEHAVIORS"


def loadtest_pk(test_id: str) -> str:
    return f"TEST#{test_id}"


def loadtests_index(status: LoadTestStatus) -> str:
    return f"TESTS#{status.value}"


def loadtest_to_item(test: LoadTest) -> Item:
    return {
        PK: loadtest_pk(test.id),
        SK: META,
        GSI1_PK: loadtests_index(test.status),
        GSI1_SK: f"{test.created_at.isoformat()}#{test.id}",
        VERSION: test.version,
        DOC: test.model_dump_json(),
    }


def loadtest_from_item(item: Item) -> LoadTest:
    return LoadTest.model_validate_json(item[DOC]).model_copy(update={"version": item[VERSION]})


def history_pk(subject: str) -> str:
    return f"HIST#{subject}"


def event_to_item(event: HistoryEvent) -> Item:
    return {PK: history_pk(event.subject), SK: event.id, DOC: event.model_dump_json()}


def event_from_item(item: Item) -> HistoryEvent:
    return HistoryEvent.model_validate_json(item[DOC])


def school_pk(school_id: str) -> str:
    return f"SCHOOL#{school_id}"


def school_to_item(school: School, expires_at: int) -> Item:
    return {
        PK: school_pk(school.id),
        SK: META,
        GSI1_PK: SCHOOLS_INDEX,
        GSI1_SK: school.id,
        TTL_ATTRIBUTE: expires_at,
        DOC: school.model_dump_json(),
    }


def school_from_item(item: Item) -> School:
    return School.model_validate_json(item[DOC])


def allocation_to_item(allocation: Allocation) -> Item:
    return {PK: ALLOCATION_PK, SK: META, VERSION: allocation.version, DOC: allocation.model_dump_json()}


def allocation_from_item(item: Item) -> Allocation:
    return Allocation.model_validate_json(item[DOC]).model_copy(update={"version": item[VERSION]})


def estop_to_item(estop: EmergencyStop) -> Item:
    return {PK: ESTOP_PK, SK: META, VERSION: estop.version, DOC: estop.model_dump_json()}


def estop_from_item(item: Item) -> EmergencyStop:
    return EmergencyStop.model_validate_json(item[DOC]).model_copy(update={"version": item[VERSION]})


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


def behavior_to_item(behavior: StoredBehavior) -> Item:
    return {
        PK: behavior_pk(behavior.name),
        SK: behavior_sk(behavior.version),
        GSI1_PK: BEHAVIORS_INDEX,
        GSI1_SK: f"{behavior.name}#{behavior.version:010d}",
        VERSION: behavior.version,
        DOC: behavior.model_dump_json(),
    }


def behavior_from_item(item: Item) -> StoredBehavior:
    return StoredBehavior.model_validate_json(item[DOC])
