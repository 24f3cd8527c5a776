"""The typed client of the Keeper HTTP API, used by the CLI, the demo, the drills and Schools."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from koipond.api.behavior_sources import BehaviorSourceListOut, BehaviorSourceOut
from koipond.api.behaviors import (
    BehaviorDiffOut,
    BehaviorDocument,
    BehaviorListOut,
    BehaviorOut,
    BehaviorVersionListOut,
    BehaviorVersionOut,
)
from koipond.api.deploys import DeployEventsOut, DeployListOut, DeployOut, ServiceSlisOut, SliSettings
from koipond.api.estop import EmergencyStopOut
from koipond.api.history import EventListOut, EventOut
from koipond.api.keys import IssuedKeyOut, KeyListOut, KeyOut, WhoAmIOut
from koipond.api.loadtests import LoadTestListOut, LoadTestOut
from koipond.api.meta import HealthOut, VocabularyOut
from koipond.api.notifications import NotificationListOut, NotificationOut
from koipond.api.poll import (
    LoadTestSpecsRequest,
    LoadTestSpecsResponse,
    PollRequest,
    PollResponse,
    describe_problems,
)
from koipond.api.rollouts import RolloutListOut, RolloutOut, StageIn
from koipond.api.schools import SchoolListOut, SchoolOut
from koipond.api.tokens import DlqSummary, RedriveResult, TokenJobListOut, TokenJobOut
from koipond.errors import KoipondError
from koipond.models.auth import Role
from koipond.models.rollouts import RolloutStatus
from koipond.models.tests import LoadTestStatus
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.models import NotificationStatus

_Answer = TypeVar("_Answer", bound=BaseModel)
PageT = TypeVar("PageT", bound=BaseModel)
ItemT = TypeVar("ItemT")


class KeeperApiError(KoipondError):
    """The Keeper answered with an error (``status`` and its JSON error body) or could not be reached."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)
        self.status = status
        self.code = code


class KeeperClient:
    """One method per API call; each answers its route's response model from :mod:`koipond.api`.

    Errors raise :class:`KeeperApiError`; an answer that is not the route's model raises it with code
    ``invalid_answer``. :meth:`request` stays for calls without a method of their own (it answers JSON).
    """

    def __init__(self, base_url: str, token: str | None, timeout: float = 15.0) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KeeperClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise KeeperApiError(0, "unreachable", f"cannot reach the Keeper at {self.base_url}: {exc}") from exc
        if response.is_success:
            return response.json() if response.content else None
        try:
            error = response.json()["error"]
            raise KeeperApiError(response.status_code, error["code"], error["message"], error.get("details"))
        except (ValueError, KeyError, TypeError):
            raise KeeperApiError(
                response.status_code, "http_error", response.text[:500] or response.reason_phrase
            ) from None

    def health(self) -> HealthOut:
        return _parse(HealthOut, self.request("GET", "/healthz"), "a health answer")

    def vocabulary(self) -> VocabularyOut:
        """Every value of the enums clients offer as choices (notification kinds, statuses)."""
        return _parse(VocabularyOut, self.request("GET", "/v1/vocabulary"), "the vocabulary")

    def start_test(self, **spec: Any) -> LoadTestOut:
        """Start a test; ``spec`` holds the fields of :class:`CreateTestRequest` (checked by the Keeper)."""
        return _parse(LoadTestOut, self.request("POST", "/v1/tests", json=spec), "a load test")

    def list_tests(self, status: LoadTestStatus | str | None = None) -> list[LoadTestOut]:
        answer = self.request("GET", "/v1/tests", params={"status": str(status)} if status else None)
        return _parse(LoadTestListOut, answer, "a list of load tests").tests

    def show_test(self, test_id: str) -> LoadTestOut:
        return _parse(LoadTestOut, self.request("GET", f"/v1/tests/{test_id}"), "a load test")

    def update_test(
        self,
        test_id: str,
        *,
        koi: int | None = None,
        shed_percent: float | None = None,
        reason: str | None = None,
        version: int | None = None,
    ) -> LoadTestOut:
        """Scale and/or shed a test; None leaves a field as it is (with ``version``: only at that version)."""
        change = {"koi": koi, "shed_percent": shed_percent, "reason": reason, "version": version}
        answer = self.request("PATCH", f"/v1/tests/{test_id}", json=change)
        return _parse(LoadTestOut, answer, "a load test")

    def stop_test(self, test_id: str, reason: str | None = None) -> LoadTestOut:
        answer = self.request("POST", f"/v1/tests/{test_id}/stop", json={"reason": reason})
        return _parse(LoadTestOut, answer, "a load test")

    def resume_test(self, test_id: str, reason: str | None = None) -> LoadTestOut:
        answer = self.request("POST", f"/v1/tests/{test_id}/resume", json={"reason": reason})
        return _parse(LoadTestOut, answer, "a load test")

    def test_events(self, test_id: str, *, limit: int | None = None, newest_first: bool = False) -> list[EventOut]:
        """A test's history, following the pages: all of it, or the first ``limit`` events in that order."""
        params: dict[str, Any] = {"order": "newest" if newest_first else "oldest"}
        path = f"/v1/tests/{test_id}/events"
        return self._paged(
            path, params, limit, 500, EventListOut, "a page of events", lambda page: (page.events, page.next_cursor)
        )

    def start_rollout(
        self, test_id: str, stages: Sequence[Mapping[str, Any] | StageIn], reason: str | None = None
    ) -> RolloutOut:
        """``stages``: ``{koi, hold}`` each, ``hold`` in seconds or a duration such as ``7d``."""
        plan = [s.model_dump() if isinstance(s, StageIn) else dict(s) for s in stages]
        body = {"test_id": test_id, "stages": plan, "reason": reason}
        return _parse(RolloutOut, self.request("POST", "/v1/rollouts", json=body), "a rollout")

    def list_rollouts(self, status: RolloutStatus | str | None = None) -> list[RolloutOut]:
        params = {"status": str(status)} if status else None
        return _parse(RolloutListOut, self.request("GET", "/v1/rollouts", params=params), "a list of rollouts").rollouts

    def show_rollout(self, rollout_id: str) -> RolloutOut:
        return _parse(RolloutOut, self.request("GET", f"/v1/rollouts/{rollout_id}"), "a rollout")

    def rollout_action(self, rollout_id: str, action: str, reason: str) -> RolloutOut:
        """``action`` is ``advance``, ``pause``, ``resume`` or ``abort``."""
        answer = self.request("POST", f"/v1/rollouts/{rollout_id}/{action}", json={"reason": reason})
        return _parse(RolloutOut, answer, "a rollout")

    def poll(
        self, school_id: str, capacity: int, running: dict[str, int], known_version: int | None = None
    ) -> PollResponse:
        """Poll as School ``school_id``; with ``known_version``, an unchanged assignment comes back as None.

        Raises:
            ValidationError: ``capacity`` or ``running`` is outside the poll contract's bounds.
            KeeperApiError: the Keeper refused the poll, or answered something that is not a poll answer
                (code ``invalid_answer``, naming the fields at fault).
        """
        body = PollRequest(capacity=capacity, running=running, known_version=known_version).model_dump()
        answer = self.request("POST", f"/v1/schools/{school_id}/poll", json=body)
        return _parse(PollResponse, answer, "a poll answer")

    def test_specs(self, school_id: str, test_ids: list[str]) -> LoadTestSpecsResponse:
        """What the given tests run, as School ``school_id`` reads it (at most 100 ids a call).

        Raises:
            ValidationError: no id, more than 100, or a malformed one.
            KeeperApiError: the Keeper refused, or answered something that is not a list of specs.
        """
        body = LoadTestSpecsRequest(test_ids=test_ids).model_dump()
        answer = self.request("POST", f"/v1/schools/{school_id}/test-specs", json=body)
        return _parse(LoadTestSpecsResponse, answer, "a list of test specs")

    def list_schools(self) -> list[SchoolOut]:
        return _parse(SchoolListOut, self.request("GET", "/v1/schools"), "a list of Schools").schools

    def estop_on(self, reason: str) -> EmergencyStopOut:
        answer = self.request("POST", "/v1/emergency-stop", json={"reason": reason})
        return _parse(EmergencyStopOut, answer, "the emergency stop")

    def estop_off(self, reason: str | None = None) -> EmergencyStopOut:
        answer = self.request("DELETE", "/v1/emergency-stop", json={"reason": reason})
        return _parse(EmergencyStopOut, answer, "the emergency stop")

    def estop_status(self) -> EmergencyStopOut:
        return _parse(EmergencyStopOut, self.request("GET", "/v1/emergency-stop"), "the emergency stop")

    def put_behavior(self, name: str, document: BehaviorDocument | Mapping[str, Any]) -> BehaviorOut:
        body = (
            document.model_dump(mode="json", exclude_none=True) if isinstance(document, BaseModel) else dict(document)
        )
        return _parse(BehaviorOut, self.request("PUT", f"/v1/behaviors/{name}", json=body), "a behavior")

    def get_behavior(self, name: str, version: int | None = None) -> BehaviorOut:
        params = {"version": version} if version else None
        return _parse(BehaviorOut, self.request("GET", f"/v1/behaviors/{name}", params=params), "a behavior")

    def list_behaviors(self) -> list[BehaviorOut]:
        return _parse(BehaviorListOut, self.request("GET", "/v1/behaviors"), "a list of behaviors").behaviors

    def behavior_versions(self, name: str, *, limit: int | None = None) -> list[BehaviorVersionOut]:
        """A behavior's versions newest first, following the pages: all of them, or the newest ``limit``."""
        path = f"/v1/behaviors/{name}/versions"
        what = "a page of behavior versions"
        return self._paged(
            path, {}, limit, 100, BehaviorVersionListOut, what, lambda page: (page.versions, page.next_cursor)
        )

    def _paged(
        self,
        path: str,
        params: dict[str, Any],
        limit: int | None,
        page_size: int,
        model: type[PageT],
        what: str,
        read: Callable[[PageT], tuple[Sequence[ItemT], str | None]],
    ) -> list[ItemT]:
        """Every item of a cursor-paged listing, or the first ``limit``: each page asks for what is still wanted.

        Args:
            read: a page's items and its ``next_cursor`` (None after the last page).
        """
        found: list[ItemT] = []
        params = dict(params)
        while limit is None or len(found) < limit:
            params["limit"] = page_size if limit is None else min(page_size, limit - len(found))
            page = _parse(model, self.request("GET", path, params=params), what)
            items, cursor = read(page)
            found.extend(items)
            if not cursor:
                break
            params["cursor"] = cursor
        return found

    def diff_behavior(self, name: str, before: int, after: int | None = None) -> BehaviorDiffOut:
        """What changed from version ``before`` of a behavior to version ``after`` (None: the latest)."""
        params: dict[str, Any] = {"from": before} | ({"to": after} if after else {})
        answer = self.request("GET", f"/v1/behaviors/{name}/diff", params=params)
        return _parse(BehaviorDiffOut, answer, "a behavior diff")

    def put_behavior_source(self, name: str, source: Mapping[str, Any]) -> BehaviorSourceOut:
        """Set where behavior ``name``'s rates come from (``koipond.models.behavior_source.BehaviorSource``)."""
        answer = self.request("PUT", f"/v1/behaviors/{name}/source", json=dict(source))
        return _parse(BehaviorSourceOut, answer, "a behavior source")

    def get_behavior_source(self, name: str) -> BehaviorSourceOut:
        answer = self.request("GET", f"/v1/behaviors/{name}/source")
        return _parse(BehaviorSourceOut, answer, "a behavior source")

    def delete_behavior_source(self, name: str) -> BehaviorSourceOut:
        answer = self.request("DELETE", f"/v1/behaviors/{name}/source")
        return _parse(BehaviorSourceOut, answer, "a behavior source")

    def list_behavior_sources(self) -> list[BehaviorSourceOut]:
        answer = self.request("GET", "/v1/behavior-sources")
        return _parse(BehaviorSourceListOut, answer, "a list of behavior sources").sources

    def whoami(self) -> WhoAmIOut:
        return _parse(WhoAmIOut, self.request("GET", "/v1/whoami"), "a key's identity")

    def create_key(
        self, name: str, role: Role | str, *, school_id: str | None = None, school_prefix: str | None = None
    ) -> IssuedKeyOut:
        """A new key and its token; a school key is bound to one School or to a prefix of School ids."""
        body: dict[str, Any] = {"name": name, "role": str(role)}
        if school_id is not None:
            body["school_id"] = school_id
        if school_prefix is not None:
            body["school_prefix"] = school_prefix
        return _parse(IssuedKeyOut, self.request("POST", "/v1/keys", json=body), "a new key")

    def list_keys(self) -> list[KeyOut]:
        return _parse(KeyListOut, self.request("GET", "/v1/keys"), "a list of keys").keys

    def revoke_key(self, key_id: str) -> KeyOut:
        return _parse(KeyOut, self.request("DELETE", f"/v1/keys/{key_id}"), "a key")

    def create_token_job(self, workspace: str, target: str, start: int, end: int) -> TokenJobOut:
        body = {"workspace": workspace, "target": target, "users": {"start": start, "end": end}}
        return _parse(TokenJobOut, self.request("POST", "/v1/token-jobs", json=body), "a token job")

    def token_job(self, job_id: str) -> TokenJobOut:
        return _parse(TokenJobOut, self.request("GET", f"/v1/token-jobs/{job_id}"), "a token job")

    def token_jobs(self) -> list[TokenJobOut]:
        return _parse(TokenJobListOut, self.request("GET", "/v1/token-jobs"), "a list of token jobs").jobs

    def token_dlq(self) -> DlqSummary:
        return _parse(DlqSummary, self.request("GET", "/v1/token-jobs/dlq"), "a dead-letter queue summary")

    def token_redrive(self) -> RedriveResult:
        return _parse(RedriveResult, self.request("POST", "/v1/token-jobs/dlq/redrive"), "a redrive result")

    def record_deploy(
        self,
        service: str,
        build: str,
        *,
        at: datetime | str | None = None,
        soak: int | str | None = None,
        baseline: int | str | None = None,
    ) -> DeployOut:
        """``at`` with a zone (default now); ``soak`` and ``baseline`` in seconds or e.g. ``15m``."""
        optional = {"at": at.isoformat() if isinstance(at, datetime) else at, "soak": soak, "baseline": baseline}
        body = {"service": service, "build": build, **{k: v for k, v in optional.items() if v is not None}}
        return _parse(DeployOut, self.request("POST", "/v1/deploys", json=body), "a deploy")

    def deploy(self, deploy_id: str) -> DeployOut:
        return _parse(DeployOut, self.request("GET", f"/v1/deploys/{deploy_id}"), "a deploy")

    def deploy_events(self, deploy_id: str) -> list[EventOut]:
        """A deploy's history, oldest first."""
        answer = self.request("GET", f"/v1/deploys/{deploy_id}/events")
        return _parse(DeployEventsOut, answer, "a deploy's events").events

    def deploys(self, service: str, build: str | None = None, limit: int = 20) -> list[DeployOut]:
        params = {"service": service, "limit": limit, **({"build": build} if build else {})}
        return _parse(DeployListOut, self.request("GET", "/v1/deploys", params=params), "a list of deploys").deploys

    def deploy_slis(self, service: str) -> ServiceSlisOut:
        return _parse(ServiceSlisOut, self.request("GET", f"/v1/deploys/slis/{service}"), "a service's SLIs")

    def put_deploy_slis(self, service: str, settings: SliSettings | Mapping[str, Any]) -> ServiceSlisOut:
        body = settings.model_dump(mode="json") if isinstance(settings, BaseModel) else dict(settings)
        answer = self.request("PUT", f"/v1/deploys/slis/{service}", json=body)
        return _parse(ServiceSlisOut, answer, "a service's SLIs")

    def notifications(
        self,
        kind: NotificationKind | str | None = None,
        status: NotificationStatus | str | None = None,
        limit: int = 50,
    ) -> list[NotificationOut]:
        """Notifications newest first, optionally of one kind and/or delivery status."""
        filters = {"kind": kind, "status": status, "limit": limit}
        params = {k: str(v) if k != "limit" else v for k, v in filters.items() if v is not None}
        answer = self.request("GET", "/v1/notifications", params=params)
        return _parse(NotificationListOut, answer, "a list of notifications").notifications


def _parse(model: type[_Answer], answer: Any, what: str) -> _Answer:
    """``answer`` as ``model``, or the Keeper's fault named field by field."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        raise KeeperApiError(200, "invalid_answer", f"not {what}: {describe_problems(exc)}") from exc
