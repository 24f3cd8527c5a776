"""A typed-enough client of the Keeper HTTP API, used by the CLI, the demo and Schools."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from koipond.api.meta import VocabularyOut
from koipond.api.poll import (
    LoadTestSpecsRequest,
    LoadTestSpecsResponse,
    PollRequest,
    PollResponse,
    describe_problems,
)
from koipond.errors import KoipondError

_Answer = TypeVar("_Answer", bound=BaseModel)


class KeeperApiError(KoipondError):
    """The Keeper answered with an error (``status`` and its JSON error body) or could not be reached."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)
        self.status = status
        self.code = code


class KeeperClient:
    """One method per API call; JSON in, JSON (dicts) out; errors raise :class:`KeeperApiError`."""

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

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/healthz")
        return result

    def vocabulary(self) -> VocabularyOut:
        """Every value of the enums clients offer as choices (notification kinds, statuses)."""
        return _parse(VocabularyOut, self.request("GET", "/v1/vocabulary"), "the vocabulary")

    def start_test(self, **spec: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/v1/tests", json=spec)
        return result

    def list_tests(self, status: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/tests", params={"status": status} if status else None)[
            "tests"
        ]
        return result

    def show_test(self, test_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/tests/{test_id}")
        return result

    def update_test(self, test_id: str, **change: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.request("PATCH", f"/v1/tests/{test_id}", json=change)
        return result

    def stop_test(self, test_id: str, reason: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", f"/v1/tests/{test_id}/stop", json={"reason": reason})
        return result

    def resume_test(self, test_id: str, reason: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", f"/v1/tests/{test_id}/resume", json={"reason": reason})
        return result

    def test_events(
        self, test_id: str, *, limit: int | None = None, newest_first: bool = False
    ) -> list[dict[str, Any]]:
        """A test's history, following the pages: all of it, or the first ``limit`` events in that order."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"order": "newest" if newest_first else "oldest"}
        while limit is None or len(events) < limit:
            params["limit"] = 500 if limit is None else min(500, limit - len(events))
            page = self.request("GET", f"/v1/tests/{test_id}/events", params=params)
            events.extend(page["events"])
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        return events

    def start_rollout(self, test_id: str, stages: list[dict[str, Any]], reason: str | None = None) -> dict[str, Any]:
        body = {"test_id": test_id, "stages": stages, "reason": reason}
        result: dict[str, Any] = self.request("POST", "/v1/rollouts", json=body)
        return result

    def list_rollouts(self, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else None
        result: list[dict[str, Any]] = self.request("GET", "/v1/rollouts", params=params)["rollouts"]
        return result

    def show_rollout(self, rollout_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/rollouts/{rollout_id}")
        return result

    def rollout_action(self, rollout_id: str, action: str, reason: str) -> dict[str, Any]:
        """``action`` is ``advance``, ``pause``, ``resume`` or ``abort``."""
        result: dict[str, Any] = self.request("POST", f"/v1/rollouts/{rollout_id}/{action}", json={"reason": reason})
        return result

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

    def list_schools(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/schools")["schools"]
        return result

    def estop_on(self, reason: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/v1/emergency-stop", json={"reason": reason})
        return result

    def estop_off(self, reason: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.request("DELETE", "/v1/emergency-stop", json={"reason": reason})
        return result

    def estop_status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/v1/emergency-stop")
        return result

    def put_behavior(self, name: str, document: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("PUT", f"/v1/behaviors/{name}", json=document)
        return result

    def get_behavior(self, name: str, version: int | None = None) -> dict[str, Any]:
        params = {"version": version} if version else None
        result: dict[str, Any] = self.request("GET", f"/v1/behaviors/{name}", params=params)
        return result

    def list_behaviors(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/behaviors")["behaviors"]
        return result

    def whoami(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/v1/whoami")
        return result

    def create_key(
        self, name: str, role: str, *, school_id: str | None = None, school_prefix: str | None = None
    ) -> dict[str, Any]:
        """A new key and its token; a school key is bound to one School or to a prefix of School ids."""
        body: dict[str, Any] = {"name": name, "role": role}
        if school_id is not None:
            body["school_id"] = school_id
        if school_prefix is not None:
            body["school_prefix"] = school_prefix
        result: dict[str, Any] = self.request("POST", "/v1/keys", json=body)
        return result

    def list_keys(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/keys")["keys"]
        return result

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("DELETE", f"/v1/keys/{key_id}")
        return result

    def create_token_job(self, workspace: str, target: str, start: int, end: int) -> dict[str, Any]:
        body = {"workspace": workspace, "target": target, "users": {"start": start, "end": end}}
        result: dict[str, Any] = self.request("POST", "/v1/token-jobs", json=body)
        return result

    def token_job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/token-jobs/{job_id}")
        return result

    def token_jobs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/token-jobs")["jobs"]
        return result

    def token_dlq(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/v1/token-jobs/dlq")
        return result

    def token_redrive(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/v1/token-jobs/dlq/redrive")
        return result

    def record_deploy(self, service: str, build: str, **optional: Any) -> dict[str, Any]:
        """``optional``: ``at`` (ISO 8601 with a zone), ``soak`` and ``baseline`` (seconds or e.g. ``15m``)."""
        body = {"service": service, "build": build, **{k: v for k, v in optional.items() if v is not None}}
        result: dict[str, Any] = self.request("POST", "/v1/deploys", json=body)
        return result

    def deploy(self, deploy_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/deploys/{deploy_id}")
        return result

    def deploys(self, service: str, build: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        params = {"service": service, "limit": limit, **({"build": build} if build else {})}
        result: list[dict[str, Any]] = self.request("GET", "/v1/deploys", params=params)["deploys"]
        return result

    def deploy_slis(self, service: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/deploys/slis/{service}")
        return result

    def put_deploy_slis(self, service: str, settings: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("PUT", f"/v1/deploys/slis/{service}", json=settings)
        return result

    def notifications(
        self, kind: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Notifications newest first, optionally of one kind and/or delivery status."""
        params = {k: v for k, v in {"kind": kind, "status": status, "limit": limit}.items() if v is not None}
        result: list[dict[str, Any]] = self.request("GET", "/v1/notifications", params=params)["notifications"]
        return result


def _parse(model: type[_Answer], answer: Any, what: str) -> _Answer:
    """``answer`` as ``model``, or the Keeper's fault named field by field."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        raise KeeperApiError(200, "invalid_answer", f"not {what}: {describe_problems(exc)}") from exc
