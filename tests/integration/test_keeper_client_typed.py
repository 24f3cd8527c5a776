"""KeeperClient against a real HTTP Keeper: every method answers its route's response model from koipond.api."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from koipond.api.behaviors import BehaviorOut
from koipond.api.client import KeeperApiError, KeeperClient
from koipond.api.deploys import DeployOut, ServiceSlisOut
from koipond.api.estop import EmergencyStopOut
from koipond.api.history import EventOut
from koipond.api.keys import IssuedKeyOut, KeyOut, WhoAmIOut
from koipond.api.loadtests import LoadTestOut
from koipond.api.meta import HealthOut, VocabularyOut
from koipond.api.notifications import NotificationOut
from koipond.api.poll import LoadTestSpecsResponse, PollResponse
from koipond.api.rollouts import RolloutOut, StageIn
from koipond.api.schools import SchoolOut
from koipond.api.tokens import TokenJobOut
from koipond.models.auth import Role
from koipond.models.tests import LoadTestStatus
from tests.conftest import ADMIN_TOKEN, Api, new_test_body
from tests.integration.keeper_http import keeper_over_http

BEHAVIOR = {
    "description": "typed client check",
    "actions": {"ping": {"method": "GET", "path": "/api/api.test", "rate_per_hour": 60}},
}


@pytest.fixture
def client(api: Api) -> Iterator[KeeperClient]:
    with keeper_over_http() as url, KeeperClient(url, ADMIN_TOKEN) as keeper:
        yield keeper


def test_a_test_round_trip_answers_load_test_models_and_events(client: KeeperClient) -> None:
    started = client.start_test(**new_test_body(koi=20))
    assert isinstance(started, LoadTestOut)
    assert started.status is LoadTestStatus.RUNNING
    shown = client.show_test(started.id)
    assert isinstance(shown, LoadTestOut)
    assert shown.id == started.id
    scaled = client.update_test(started.id, koi=30, reason="typed scale")
    assert (scaled.koi, scaled.version) == (30, started.version + 1)
    stopped = client.stop_test(started.id, "typed stop")
    assert isinstance(stopped, LoadTestOut)
    assert stopped.status is LoadTestStatus.STOPPED
    resumed = client.resume_test(started.id, "typed resume")
    assert resumed.status is LoadTestStatus.RUNNING
    events = client.test_events(started.id)
    assert all(isinstance(e, EventOut) for e in events)
    assert [e.kind for e in events] == ["test_created", "test_scaled", "test_stopped", "test_resumed"]
    assert [e.reason for e in events][1:] == ["typed scale", "typed stop", "typed resume"]
    assert client.test_events(started.id, limit=1, newest_first=True) == events[-1:]
    listed = client.list_tests(LoadTestStatus.RUNNING)
    assert [t.id for t in listed] == [started.id]
    assert all(isinstance(t, LoadTestOut) for t in listed)


def test_rollouts_answer_rollout_models(client: KeeperClient) -> None:
    test = client.start_test(**new_test_body(koi=20))
    stages = [StageIn(koi=40, hold=3600), {"koi": 50, "hold": "2h"}]
    rollout = client.start_rollout(test.id, stages, "typed ramp")
    assert isinstance(rollout, RolloutOut)
    assert [(s.koi, s.hold_seconds) for s in rollout.stages] == [(40, 3600), (50, 7200)]
    paused = client.rollout_action(rollout.id, "pause", "typed pause")
    assert isinstance(paused, RolloutOut)
    assert paused.paused_reason == "typed pause"
    shown = client.show_rollout(rollout.id)
    assert shown.transitions is not None
    assert all(isinstance(t, EventOut) for t in shown.transitions)
    assert [r.id for r in client.list_rollouts("paused")] == [rollout.id]


def test_schools_polls_and_specs_answer_their_models(client: KeeperClient) -> None:
    test = client.start_test(**new_test_body(koi=20))
    assert isinstance(client.poll("school-1", 100, {}), PollResponse)
    [school] = client.list_schools()
    assert isinstance(school, SchoolOut)
    assert school.id == "school-1"
    assert isinstance(client.test_specs("school-1", [test.id]), LoadTestSpecsResponse)


def test_the_emergency_stop_answers_its_state(client: KeeperClient) -> None:
    pulled = client.estop_on("typed fire")
    assert isinstance(pulled, EmergencyStopOut)
    assert pulled.active
    assert all(isinstance(e, EventOut) for e in pulled.history)
    assert isinstance(client.estop_status(), EmergencyStopOut)
    lifted = client.estop_off("typed all clear")
    assert (lifted.active, lifted.changed) == (False, True)


def test_behaviors_keys_and_identity_answer_their_models(client: KeeperClient) -> None:
    stored = client.put_behavior("typed", BEHAVIOR)
    assert isinstance(stored, BehaviorOut)
    assert client.get_behavior("typed", stored.version) == stored
    assert all(isinstance(b, BehaviorOut) for b in client.list_behaviors())
    me = client.whoami()
    assert isinstance(me, WhoAmIOut)
    assert me.role is Role.ADMIN
    issued = client.create_key("typed school", Role.SCHOOL, school_prefix="eks-")
    assert isinstance(issued, IssuedKeyOut)
    assert (issued.school_prefix, bool(issued.token)) == ("eks-", True)
    assert issued.id in {k.id for k in client.list_keys()}
    revoked = client.revoke_key(issued.id)
    assert isinstance(revoked, KeyOut)
    assert revoked.revoked_at is not None


def test_deploys_answer_deploy_models(client: KeeperClient) -> None:
    deploy = client.record_deploy("chat-api", "b1", soak="15m", baseline=1800)
    assert isinstance(deploy, DeployOut)
    assert (deploy.soak.seconds, deploy.baseline.seconds) == (900, 1800)
    assert client.deploy(deploy.id) == deploy
    assert client.deploys("chat-api") == [deploy]
    assert [e.kind for e in client.deploy_events(deploy.id)] == ["deploy_recorded"]
    slis = client.deploy_slis("chat-api")
    assert isinstance(slis, ServiceSlisOut)
    assert slis.source == "defaults"


def test_meta_tokens_and_notifications_answer_their_models(client: KeeperClient) -> None:
    assert isinstance(client.health(), HealthOut)
    assert isinstance(client.vocabulary(), VocabularyOut)
    client.estop_on("a notification")
    assert all(isinstance(n, NotificationOut) for n in client.notifications(limit=10))
    assert all(isinstance(j, TokenJobOut) for j in client.token_jobs())


def test_an_answer_that_is_not_the_routes_model_is_an_invalid_answer(client: KeeperClient) -> None:
    vocabulary = client.request("GET", "/v1/vocabulary")
    # A Keeper (or a proxy) answering every path with the vocabulary: no method takes it for its model.
    answers_vocabulary = httpx.MockTransport(lambda _: httpx.Response(200, json=vocabulary))
    with KeeperClient(client.base_url, ADMIN_TOKEN) as wrong:
        wrong._http = httpx.Client(base_url=client.base_url, transport=answers_vocabulary)
        with pytest.raises(KeeperApiError) as error:
            wrong.whoami()
    assert (error.value.status, error.value.code) == (200, "invalid_answer")
    assert "key_id" in error.value.message
