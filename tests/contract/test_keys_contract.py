"""The API key repository's contract, over DynamoDB and in memory: creates never overwrite, guarded saves."""

from __future__ import annotations

import pytest

from koipond.errors import ConflictError, NotFoundError
from koipond.memory.keys import MemoryApiKeyRepository
from koipond.models.auth import ApiKey, Role
from koipond.models.history import KEYS_SUBJECT, EventKind
from koipond.services.ports.keys import ApiKeyRepository
from koipond.store.keys import DynamoApiKeyRepository
from tests.conftest import START
from tests.contract.fixtures_repositories import FLAVOURS, WithHistory, event, with_history


@pytest.fixture(params=FLAVOURS)
def keys(request: pytest.FixtureRequest) -> WithHistory[ApiKeyRepository]:
    return with_history(request, DynamoApiKeyRepository, MemoryApiKeyRepository)


def key(key_id: str, role: Role = Role.ADMIN, name: str = "k") -> ApiKey:
    return ApiKey(id=key_id, name=name, role=role, secret_hash="h", created_at=START, created_by="tests")


def revoked(stored: ApiKey) -> ApiKey:
    return stored.model_copy(update={"revoked_at": START, "revoked_by": "tests"})


def test_a_created_key_is_found_and_its_event_appended(keys: WithHistory[ApiKeyRepository]) -> None:
    created = event(KEYS_SUBJECT, EventKind.KEY_CREATED)
    keys.repo.create(key("k1"), created)
    assert keys.repo.find("k1") == key("k1")
    assert keys.repo.get("k1") == key("k1")
    assert keys.history.list_events(KEYS_SUBJECT) == [created]


def test_a_key_created_without_an_event_appends_none(keys: WithHistory[ApiKeyRepository]) -> None:
    keys.repo.create(key("k1"), None)
    assert keys.history.list_events(KEYS_SUBJECT) == []


def test_an_unknown_key_is_none_or_not_found(keys: WithHistory[ApiKeyRepository]) -> None:
    assert keys.repo.find("nope") is None
    with pytest.raises(NotFoundError):
        keys.repo.get("nope")


def test_creating_an_existing_key_conflicts_and_never_un_revokes_it(keys: WithHistory[ApiKeyRepository]) -> None:
    keys.repo.create(key("k1"), None)
    keys.repo.save(revoked(key("k1")), event(KEYS_SUBJECT))
    with pytest.raises(ConflictError):
        keys.repo.create(key("k1"), event(KEYS_SUBJECT))
    assert keys.repo.get("k1").revoked
    assert len(keys.history.list_events(KEYS_SUBJECT)) == 1


def test_keys_are_listed_by_id(keys: WithHistory[ApiKeyRepository]) -> None:
    for key_id in ("k2", "k3", "k1"):
        keys.repo.create(key(key_id), None)
    assert [k.id for k in keys.repo.list_all()] == ["k1", "k2", "k3"]


def test_a_save_while_the_other_key_is_active_goes_through(keys: WithHistory[ApiKeyRepository]) -> None:
    keys.repo.create(key("k1"), None)
    keys.repo.create(key("k2"), None)
    keys.repo.save(revoked(key("k1")), event(KEYS_SUBJECT), while_active="k2")
    assert keys.repo.get("k1").revoked


def test_a_save_while_the_other_key_is_revoked_or_gone_conflicts_and_writes_nothing(
    keys: WithHistory[ApiKeyRepository],
) -> None:
    keys.repo.create(key("k1"), None)
    keys.repo.create(key("k2"), None)
    keys.repo.save(revoked(key("k2")), event(KEYS_SUBJECT))
    with pytest.raises(ConflictError):
        keys.repo.save(revoked(key("k1")), event(KEYS_SUBJECT), while_active="k2")
    with pytest.raises(ConflictError):
        keys.repo.save(revoked(key("k1")), event(KEYS_SUBJECT), while_active="gone")
    assert not keys.repo.get("k1").revoked
    assert len(keys.history.list_events(KEYS_SUBJECT)) == 1


def test_delete_removes_a_key_and_deleting_a_missing_one_is_fine(keys: WithHistory[ApiKeyRepository]) -> None:
    keys.repo.create(key("k1"), None)
    keys.repo.delete("k1")
    keys.repo.delete("k1")
    assert keys.repo.find("k1") is None
    assert keys.repo.list_all() == []
