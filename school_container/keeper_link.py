"""The School's link to the Keeper: polls with backoff and jitter, test specs and behavior documents (cached)."""

from __future__ import annotations

import math
import random
import time

import httpx
from pydantic import ValidationError

from koipond.api.behaviors import BehaviorOut
from koipond.api.poll import (
    MAX_SPECS_PER_REQUEST,
    LoadTestSpec,
    LoadTestSpecsRequest,
    LoadTestSpecsResponse,
    PollRequest,
    PollResponse,
    describe_problems,
)
from koipond.models.behavior import BehaviorDocument

MAX_BACKOFF_SECONDS = 30.0


class KeeperUnreachableError(Exception):
    """A poll failed (network, 5xx, or an answer that is not a poll answer)."""


class KeeperLink:
    def __init__(
        self,
        keeper_url: str,
        token: str,
        school_id: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.school_id = school_id
        self._http = httpx.AsyncClient(
            base_url=keeper_url.rstrip("/"),
            headers={"authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )
        self._behaviors: dict[tuple[str, int | None], BehaviorDocument] = {}
        self._specs: dict[str, LoadTestSpec] = {}
        self._fetched_at: dict[str, float] = {}  # monotonic time each spec was read
        self._clock = time.monotonic
        self.failures = 0

    async def poll(self, capacity: int, running: dict[str, int], known_version: int | None) -> PollResponse:
        """One poll; raises KeeperUnreachableError on any failure (and counts it for the backoff)."""
        try:
            request = PollRequest(capacity=capacity, running=running, known_version=known_version)
            response = await self._http.post(f"/v1/schools/{self.school_id}/poll", json=request.model_dump())
            response.raise_for_status()
            answer = PollResponse.model_validate_json(response.content)
        except ValidationError as exc:
            # Before ValueError, of which it is one: name the fields at fault, not pydantic's dump of the input.
            self.failures += 1
            raise KeeperUnreachableError(f"poll failed: invalid {exc.title}: {describe_problems(exc)}") from exc
        except (httpx.HTTPError, ValueError) as exc:
            self.failures += 1
            raise KeeperUnreachableError(f"poll failed: {type(exc).__name__}: {exc}") from exc
        self.failures = 0
        return answer

    def retry_delay(self, interval: float, rng: random.Random) -> float:
        """After failures, back off exponentially with full jitter so Schools do not poll in lockstep."""
        if self.failures == 0:
            return interval * rng.uniform(0.9, 1.1)
        ceiling = min(MAX_BACKOFF_SECONDS, interval * 2 ** min(self.failures, 10))
        return rng.uniform(interval / 2, max(interval / 2, ceiling))

    def _stale(self, test_id: str, now: float) -> bool:
        """Whether a spec must be read (again): never read, or it follows its behavior's latest version and
        its ``refresh_seconds`` have passed (a pinned test's spec never changes)."""
        spec = self._specs.get(test_id)
        if spec is None:
            return True
        refresh = spec.refresh_seconds if spec.follow_latest else None
        return refresh is not None and now - self._fetched_at.get(test_id, -math.inf) >= refresh

    def follows_latest(self, test_ids: list[str]) -> bool:
        """Whether any of the tests follows its behavior's latest version (its koi may move between versions)."""
        return any(spec.follow_latest for spec in self.known_specs(test_ids).values())

    async def fetch_specs(self, test_ids: list[str]) -> list[str]:
        """Fetch what the given tests run, once per test, and again every ``refresh_seconds`` for a test that
        follows its behavior's latest version: see :meth:`known_specs`.

        Returns:
            The ids the Keeper says do not exist.

        Raises:
            KeeperUnreachableError: a fetch failed; specs fetched before it are kept.
        """
        now = self._clock()
        wanted = sorted(i for i in set(test_ids) if self._stale(i, now))
        missing: list[str] = []
        for offset in range(0, len(wanted), MAX_SPECS_PER_REQUEST):
            request = LoadTestSpecsRequest(test_ids=wanted[offset : offset + MAX_SPECS_PER_REQUEST])
            try:
                response = await self._http.post(f"/v1/schools/{self.school_id}/test-specs", json=request.model_dump())
                response.raise_for_status()
                answer = LoadTestSpecsResponse.model_validate_json(response.content)
            except ValidationError as exc:
                raise KeeperUnreachableError(f"test specs: invalid {exc.title}: {describe_problems(exc)}") from exc
            except (httpx.HTTPError, ValueError) as exc:
                raise KeeperUnreachableError(f"test specs: {type(exc).__name__}: {exc}") from exc
            self._specs.update((spec.test_id, spec) for spec in answer.specs)
            self._fetched_at.update((spec.test_id, now) for spec in answer.specs)
            missing.extend(answer.missing)
        return missing

    def known_specs(self, test_ids: list[str]) -> dict[str, LoadTestSpec]:
        """The specs fetched so far of the given tests."""
        return {i: self._specs[i] for i in test_ids if i in self._specs}

    def forget_specs(self, keep: set[str]) -> None:
        """Drop the specs of tests no longer assigned nor running, so the cache follows the School's work."""
        self._specs = {i: spec for i, spec in self._specs.items() if i in keep}
        self._fetched_at = {i: at for i, at in self._fetched_at.items() if i in keep}

    async def behavior(self, name: str, version: int | None) -> BehaviorDocument:
        """A behavior document, cached: a stored version never changes."""
        key = (name, version)
        if key not in self._behaviors:
            params = {"version": version} if version else None
            try:
                response = await self._http.get(f"/v1/behaviors/{name}", params=params)
                response.raise_for_status()
                answer = BehaviorOut.model_validate(response.json())
                document = BehaviorDocument.model_validate(answer.document)
            except (httpx.HTTPError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
                raise KeeperUnreachableError(f"behavior {name} v{version}: {type(exc).__name__}: {exc}") from exc
            if version is None:
                return document
            self._behaviors[key] = document
        return self._behaviors[key]

    async def close(self) -> None:
        await self._http.aclose()
