"""The deploy repository's contract, over DynamoDB and in memory: idempotent creates, the verdict queue,
versioned saves that let one tick win, and SLI settings."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from koipond.errors import NotFoundError
from koipond.memory.deploys import MemoryDeployRepository
from koipond.models.deploys import Deploy, DeployStatus, ServiceSlis, SliSettings
from koipond.models.history import EventKind
from koipond.services.ports.deploys import DeployRepository
from koipond.store.deploys import DynamoDeployRepository
from tests.conftest import START
from tests.contract.fixtures_repositories import FLAVOURS, WithHistory, event, with_history


@pytest.fixture(params=FLAVOURS)
def deploys(request: pytest.FixtureRequest) -> WithHistory[DeployRepository]:
    return with_history(request, DynamoDeployRepository, MemoryDeployRepository)


def deploy(deploy_id: str, *, service: str = "web", minutes: int = 0, soak: int = 900) -> Deploy:
    return Deploy(
        id=deploy_id,
        service=service,
        build="b1",
        at=START + timedelta(minutes=minutes),
        soak_seconds=soak,
        baseline_seconds=1800,
        slis=SliSettings(),
        created_at=START,
        created_by="tests",
    )


def record(repo: DeployRepository, stored: Deploy) -> bool:
    return repo.create(stored, event(f"deploy:{stored.id}", EventKind.DEPLOY_RECORDED))


def judged(stored: Deploy) -> Deploy:
    return stored.model_copy(update={"status": DeployStatus.JUDGED, "judged_at": START, "version": stored.version + 1})


def test_a_recorded_deploy_is_read_back_queued_and_its_event_appended(deploys: WithHistory[DeployRepository]) -> None:
    assert record(deploys.repo, deploy("d1"))
    assert deploys.repo.get("d1") == deploy("d1")
    assert deploys.repo.waiting(10) == [(deploy("d1").soak_end, "d1")]
    assert [e.kind for e in deploys.repo.events("deploy:d1")] == [EventKind.DEPLOY_RECORDED]


def test_recording_a_deploy_twice_is_refused_and_changes_nothing(deploys: WithHistory[DeployRepository]) -> None:
    assert record(deploys.repo, deploy("d1"))
    assert not record(deploys.repo, deploy("d1", soak=60))
    assert deploys.repo.get("d1") == deploy("d1")
    assert len(deploys.repo.waiting(10)) == 1
    assert len(deploys.repo.events("deploy:d1")) == 1


def test_an_unknown_deploy_is_not_found(deploys: WithHistory[DeployRepository]) -> None:
    with pytest.raises(NotFoundError):
        deploys.repo.get("nope")


def test_a_services_deploys_are_listed_newest_first_up_to_the_limit(deploys: WithHistory[DeployRepository]) -> None:
    for n, minutes in enumerate([5, 1, 9]):
        record(deploys.repo, deploy(f"d{n}", minutes=minutes))
    record(deploys.repo, deploy("other", service="api"))
    assert [d.id for d in deploys.repo.list_for_service("web", 10)] == ["d2", "d0", "d1"]
    assert [d.id for d in deploys.repo.list_for_service("web", 2)] == ["d2", "d0"]
    assert deploys.repo.list_for_service("nobody", 10) == []


def test_the_queue_is_in_soak_end_order_up_to_the_limit(deploys: WithHistory[DeployRepository]) -> None:
    record(deploys.repo, deploy("late", soak=3600))
    record(deploys.repo, deploy("soon", soak=60))
    record(deploys.repo, deploy("mid", soak=600))
    assert [i for _, i in deploys.repo.waiting(10)] == ["soon", "mid", "late"]
    assert [i for _, i in deploys.repo.waiting(2)] == ["soon", "mid"]


def test_the_queue_gives_soak_ends_in_utc(deploys: WithHistory[DeployRepository]) -> None:
    record(deploys.repo, deploy("d1"))
    (soak_end, _), *_ = deploys.repo.waiting(1)
    assert soak_end.tzinfo == UTC
    assert soak_end == deploy("d1").soak_end


def test_a_verdict_is_stored_dequeued_and_appended_once(deploys: WithHistory[DeployRepository]) -> None:
    record(deploys.repo, deploy("d1"))
    verdict = event("deploy:d1", EventKind.DEPLOY_JUDGED)
    assert deploys.repo.save_verdict(judged(deploy("d1")), verdict)
    assert deploys.repo.get("d1") == judged(deploy("d1"))
    assert deploys.repo.waiting(10) == []
    assert deploys.repo.events("deploy:d1")[-1] == verdict


def test_a_second_verdict_from_the_same_read_is_refused(deploys: WithHistory[DeployRepository]) -> None:
    record(deploys.repo, deploy("d1"))
    assert deploys.repo.save_verdict(judged(deploy("d1")), event("deploy:d1"))
    other = judged(deploy("d1")).model_copy(update={"judged_at": START + timedelta(seconds=1)})
    assert not deploys.repo.save_verdict(other, event("deploy:d1"))
    assert deploys.repo.get("d1") == judged(deploy("d1"))
    assert len(deploys.repo.events("deploy:d1")) == 2


def test_an_attempt_is_stored_at_its_version_and_refused_after_a_verdict(
    deploys: WithHistory[DeployRepository],
) -> None:
    record(deploys.repo, deploy("d1"))
    attempt = deploy("d1").model_copy(update={"attempts": 1, "last_error": "down", "version": 2})
    assert deploys.repo.save_attempt(attempt)
    assert deploys.repo.get("d1") == attempt
    assert deploys.repo.save_verdict(judged(attempt), event("deploy:d1"))
    late = attempt.model_copy(update={"attempts": 2, "version": 3})
    assert not deploys.repo.save_attempt(late)
    assert deploys.repo.get("d1") == judged(attempt)


def test_an_attempt_on_a_deploy_never_recorded_is_refused(deploys: WithHistory[DeployRepository]) -> None:
    assert not deploys.repo.save_attempt(deploy("d1").model_copy(update={"version": 2}))
    with pytest.raises(NotFoundError):
        deploys.repo.get("d1")


def test_dropping_a_queue_entry_leaves_the_deploy(deploys: WithHistory[DeployRepository]) -> None:
    record(deploys.repo, deploy("d1"))
    record(deploys.repo, deploy("d2", soak=60))
    deploys.repo.drop_waiting(deploy("d1").soak_end, "d1")
    deploys.repo.drop_waiting(deploy("d1").soak_end, "d1")  # a missing entry is not an error
    assert [i for _, i in deploys.repo.waiting(10)] == ["d2"]
    assert deploys.repo.get("d1") == deploy("d1")


def test_sli_settings_are_stored_replaced_listed_and_deleted(deploys: WithHistory[DeployRepository]) -> None:
    web = ServiceSlis(service="web", settings=SliSettings(min_calls=10), updated_at=START, updated_by="tests")
    api = ServiceSlis(service="api", settings=SliSettings())
    deploys.repo.put_slis(web, event("slis", EventKind.DEPLOY_SLIS_PUT))
    deploys.repo.put_slis(api, event("slis", EventKind.DEPLOY_SLIS_PUT))
    replaced = web.model_copy(update={"settings": SliSettings(min_calls=20)})
    deploys.repo.put_slis(replaced, event("slis", EventKind.DEPLOY_SLIS_PUT))
    assert deploys.repo.get_slis("web") == replaced
    assert [s.service for s in deploys.repo.list_slis()] == ["api", "web"]
    deploys.repo.delete_slis("web", event("slis", EventKind.DEPLOY_SLIS_DELETED))
    assert deploys.repo.get_slis("web") is None
    assert [e.kind for e in deploys.history.list_events("slis")][-1] is EventKind.DEPLOY_SLIS_DELETED
    assert len(deploys.history.list_events("slis")) == 4


def test_deleting_sli_settings_a_service_does_not_have_is_not_found(deploys: WithHistory[DeployRepository]) -> None:
    with pytest.raises(NotFoundError):
        deploys.repo.delete_slis("web", event("slis"))
    assert deploys.history.list_events("slis") == []
