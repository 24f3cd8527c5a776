"""Deploy gate: record deploy markers, judge them after their soak window (release tick), notify once."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from koipond.clock import Clock
from koipond.errors import BadRequestError, ConflictError, NotFoundError, PrometheusQueryError
from koipond.models.deploys import (
    DEFAULT_BASELINE_SECONDS,
    DEFAULT_SOAK_SECONDS,
    Deploy,
    DeployStatus,
    ServiceSlis,
    SliSettings,
    Verdict,
    VerdictOutcome,
    sortable,
)
from koipond.models.durations import format_duration
from koipond.models.history import EventKind, HistoryEvent
from koipond.services.deploy_verdict import compare
from koipond.services.history import new_event
from koipond.services.ports.deploys import DeployRepository
from koipond.services.sli_queries import VectorReader, measure_window

log = logging.getLogger("koipond.deploys")
TICK_ACTOR = "release tick"
# Deploy tools' clocks drift a little; a marker further in the future is a mistake (wrong zone, wrong year).
MAX_CLOCK_SKEW_SECONDS = 60
# Prometheus keeps two weeks by default; a week-old marker still finds its baseline.
MAX_AGE_SECONDS = 7 * 86_400
# Each deploy costs up to ten queries; a bounded batch keeps one tick well inside the Lambda's timeout.
JUDGE_BATCH = 10
MAX_LIST = 100


@dataclass(frozen=True)
class NewDeploy:
    service: str
    build: str
    at: datetime | None = None  # None: now
    soak_seconds: int | None = None
    baseline_seconds: int | None = None


def deploy_id_for(service: str, build: str, at: datetime) -> str:
    """The same (service, build, at) always gives the same id: a retried POST finds the first one's deploy."""
    digest = hashlib.sha256(f"{service}\n{build}\n{sortable(at)}".encode()).hexdigest()
    return f"dp-{digest[:16]}"


def _same_windows(existing: Deploy, requested: Deploy) -> Deploy:
    """``existing``, if a retry asked for the same windows; a different request for the same deploy is a conflict."""
    windows = (requested.soak_seconds, requested.baseline_seconds)
    if (existing.soak_seconds, existing.baseline_seconds) != windows:
        raise ConflictError(
            f"deploy {existing.id} ({existing.service} {existing.build} at {existing.at.isoformat()}) was recorded "
            f"with soak {existing.soak_seconds}s and baseline {existing.baseline_seconds}s, not {windows[0]}s and "
            f"{windows[1]}s",
            {"id": existing.id},
        )
    return existing


class DeployService:
    def __init__(
        self,
        repo: DeployRepository,
        prometheus: VectorReader,
        clock: Clock,
        clusters: Collection[str],
        settle_seconds: float,
        deadline_seconds: float,
    ) -> None:
        self._repo = repo
        self._prometheus = prometheus
        self._clock = clock
        self._clusters = frozenset(clusters)
        self._settle = timedelta(seconds=settle_seconds)
        self._deadline = timedelta(seconds=deadline_seconds)

    def record(self, spec: NewDeploy, actor: str) -> tuple[Deploy, bool]:
        """Record a deploy, or find the one recorded with the same (service, build, at).

        Returns:
            The deploy, and whether this call created it.

        Raises:
            BadRequestError: ``at`` is in the future (beyond clock skew) or older than a week.
            ConflictError: the same deploy was recorded with other windows.
        """
        now = self._clock.now()
        at = spec.at or now
        self._check_time(at, now)
        slis = self.slis(spec.service).settings
        deploy = Deploy(
            id=deploy_id_for(spec.service, spec.build, at),
            service=spec.service,
            build=spec.build,
            at=at,
            soak_seconds=spec.soak_seconds or DEFAULT_SOAK_SECONDS,
            baseline_seconds=spec.baseline_seconds or DEFAULT_BASELINE_SECONDS,
            slis=slis,
            created_at=now,
            created_by=actor,
        )
        details = {"service": deploy.service, "build": deploy.build, "at": at.isoformat()}
        if self._repo.create(deploy, self._event(deploy, EventKind.DEPLOY_RECORDED, actor, None, details)):
            return deploy, True
        return _same_windows(self._repo.get(deploy.id), deploy), False

    def _check_time(self, at: datetime, now: datetime) -> None:
        ahead = (at - now).total_seconds()
        if ahead > MAX_CLOCK_SKEW_SECONDS:
            raise BadRequestError(
                f"at is {format_duration(ahead)} in the future; post the deploy when it happens "
                f"(clock skew of up to {MAX_CLOCK_SKEW_SECONDS}s is accepted)",
                {"at": at.isoformat(), "now": now.isoformat()},
            )
        if -ahead > MAX_AGE_SECONDS:
            raise BadRequestError(
                f"at is more than {format_duration(MAX_AGE_SECONDS)} in the past", {"at": at.isoformat()}
            )

    def get(self, deploy_id: str) -> Deploy:
        return self._repo.get(deploy_id)

    def list_deploys(self, service: str, build: str | None = None, limit: int = 20) -> list[Deploy]:
        """The service's deploys (of ``build`` only, if given), newest first."""
        if build is None:
            return self._repo.list_for_service(service, limit)
        return [d for d in self._repo.list_for_service(service, MAX_LIST * 2) if d.build == build][:limit]

    def events(self, deploy_id: str) -> list[HistoryEvent]:
        self._repo.get(deploy_id)  # 404 for unknown ids
        return self._repo.events(f"deploy:{deploy_id}")

    def slis(self, service: str) -> ServiceSlis:
        """The service's stored SLI settings, or the shipped defaults (``updated_at`` None)."""
        return self._repo.get_slis(service) or ServiceSlis(service=service, settings=SliSettings())

    def list_slis(self) -> list[ServiceSlis]:
        return sorted(self._repo.list_slis(), key=lambda s: s.service)

    def put_slis(self, service: str, settings: SliSettings, actor: str) -> ServiceSlis:
        """Replace the service's SLI settings (deploys already recorded keep the settings they were recorded with).

        Raises:
            BadRequestError: the settings name a Prometheus cluster that is not configured.
        """
        if settings.cluster not in self._clusters:
            known = ", ".join(sorted(self._clusters)) or "none"
            raise BadRequestError(
                f"unknown Prometheus cluster {settings.cluster!r} (configured: {known})", {"cluster": settings.cluster}
            )
        slis = ServiceSlis(service=service, settings=settings, updated_at=self._clock.now(), updated_by=actor)
        event = new_event(self._clock, f"deploys:{service}", EventKind.DEPLOY_SLIS_PUT, actor, None, {})
        self._repo.put_slis(slis, event)
        return slis

    def delete_slis(self, service: str, actor: str) -> None:
        event = new_event(self._clock, f"deploys:{service}", EventKind.DEPLOY_SLIS_DELETED, actor, None, {})
        self._repo.delete_slis(service, event)

    def tick(self) -> dict[str, Any]:
        """Judge the deploys whose soak window ended at least the settle time ago (a bounded batch)."""
        now = self._clock.now()
        summary = {"judged": 0, "retrying": 0}
        failed_clusters: dict[str, str] = {}
        for soak_end, deploy_id in self._repo.waiting(JUDGE_BATCH):
            if soak_end + self._settle > now:
                break  # the queue is in soak-end order: nothing after this one is due either
            try:
                deploy = self._repo.get(deploy_id)
            except NotFoundError:
                deploy = None
            if deploy is None or deploy.status is DeployStatus.JUDGED:
                self._repo.drop_waiting(soak_end, deploy_id)
                continue
            judged = self._judge(deploy, now, failed_clusters)
            summary["judged" if judged else "retrying"] += 1
        return summary

    def _judge(self, deploy: Deploy, now: datetime, failed_clusters: dict[str, str]) -> bool:
        cluster = deploy.slis.cluster
        if cluster not in self._clusters:
            reason = f"Prometheus cluster {cluster!r} is not configured in this Keeper"
            return self._conclude(deploy, Verdict(outcome=VerdictOutcome.INCONCLUSIVE, reason=reason), now)
        try:
            if cluster in failed_clusters:  # one timeout per cluster per tick, not one per deploy
                raise PrometheusQueryError(failed_clusters[cluster])
            baseline = measure_window(self._prometheus, deploy.slis, deploy.at, deploy.baseline_seconds)
            soak = measure_window(self._prometheus, deploy.slis, deploy.soak_end, deploy.soak_seconds)
        except PrometheusQueryError as exc:
            failed_clusters[cluster] = exc.message
            return self._retry_or_give_up(deploy, exc.message, now)
        return self._conclude(deploy, compare(baseline, soak, deploy.slis), now)

    def _retry_or_give_up(self, deploy: Deploy, error: str, now: datetime) -> bool:
        if now >= deploy.soak_end + self._deadline:
            reason = f"Prometheus could not be read for {format_duration(self._deadline.total_seconds())}: {error}"
            return self._conclude(deploy, Verdict(outcome=VerdictOutcome.INCONCLUSIVE, reason=reason), now)
        log.warning("deploy %s stays pending: %s", deploy.id, error)
        attempt = deploy.model_copy(
            update={"attempts": deploy.attempts + 1, "last_error": error, "version": deploy.version + 1}
        )
        self._repo.save_attempt(attempt)
        return False

    def _conclude(self, deploy: Deploy, verdict: Verdict, now: datetime) -> bool:
        judged = deploy.model_copy(
            update={
                "status": DeployStatus.JUDGED,
                "verdict": verdict,
                "judged_at": now,
                "attempts": deploy.attempts + 1,
                "version": deploy.version + 1,
            }
        )
        # ``at`` is for the verdict's notification, which is rendered from this event (its intent).
        details = {
            "outcome": verdict.outcome.value,
            "service": deploy.service,
            "build": deploy.build,
            "at": deploy.at.isoformat(),
        }
        event = self._event(deploy, EventKind.DEPLOY_JUDGED, TICK_ACTOR, verdict.reason, details)
        # False: another tick judged it first (and its event notifies).
        return self._repo.save_verdict(judged, event)

    def _event(
        self, deploy: Deploy, kind: EventKind, actor: str, reason: str | None, details: dict[str, Any]
    ) -> HistoryEvent:
        return new_event(self._clock, f"deploy:{deploy.id}", kind, actor, reason, details)
