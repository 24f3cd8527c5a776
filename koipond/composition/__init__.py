"""Composition root: builds every adapter and service once per process and wires them together."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from koipond.aws_clients import AwsClients
from koipond.clock import Clock, SystemClock
from koipond.composition.notifications import build_notifications
from koipond.composition.process_wide import ProcessWide
from koipond.composition.tokens import build_token_job_service
from koipond.models.behavior_source import parse_locations
from koipond.notifications.kinds import Notifier
from koipond.notifications.service import NotificationService
from koipond.notifications.store import intent_index_keys
from koipond.prometheus import ApiClientPrometheusReader
from koipond.services.allocator import AllocatorService, AllocatorTiming
from koipond.services.auth import AuthService
from koipond.services.behavior_sources import BehaviorSourceService
from koipond.services.behaviors import BehaviorService
from koipond.services.charts import ChartService
from koipond.services.continuous import ContinuousTestService
from koipond.services.deploys import DeployService
from koipond.services.emergency_stop import EmergencyStopService
from koipond.services.guard import GuardService
from koipond.services.loadtests import LoadTestService
from koipond.services.polling import PollService
from koipond.services.release_tick import TickStep
from koipond.services.rollouts import RolloutService
from koipond.services.usage_rates import SourceReaders
from koipond.settings import Settings, guard_clusters
from koipond.store.assignments import DynamoAssignmentRepository
from koipond.store.behavior_sources import DynamoBehaviorSourceRepository
from koipond.store.behaviors import DynamoBehaviorRepository
from koipond.store.deploys import DynamoDeployRepository
from koipond.store.estop import DynamoEmergencyStopRepository
from koipond.store.guard import DynamoGuardRepository
from koipond.store.history import DynamoHistoryRepository
from koipond.store.keys import DynamoApiKeyRepository
from koipond.store.loadtests import DynamoLoadTestRepository
from koipond.store.pond_changes import DynamoPondChanges
from koipond.store.rollouts import DynamoRolloutRepository
from koipond.store.schools import DynamoSchoolRepository
from koipond.store.table import DynamoTable
from koipond.store.usage_exports import S3UsageObjects
from koipond.store.writes import DynamoUnitOfWork
from koipond.tokens.jobs import TokenJobService

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class Keeper:
    """Everything the Keeper API needs, built once."""

    settings: Settings
    tests: LoadTestService
    estop: EmergencyStopService
    polls: PollService
    allocator: AllocatorService
    auth: AuthService
    behaviors: BehaviorService
    behavior_sources: BehaviorSourceService
    guard: GuardService
    tokens: TokenJobService
    # The outbox. Transitions notify through their history events (koipond.notifications.intents), which
    # the release tick expands into outbox items; this writes outbox items directly (the token DLQ watcher).
    notifier: Notifier
    notifications: NotificationService
    charts: ChartService
    rollouts: RolloutService
    continuous: ContinuousTestService
    deploys: DeployService


def allocator_holder_id() -> str:
    """Who holds the allocator's lease: unique per process (a Lambda execution environment, a local Keeper)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def build_keeper(
    settings: Settings, client: DynamoDBClient, clock: Clock | None = None, aws: AwsClients | None = None
) -> Keeper:
    """Wire the Keeper's services over one table (SQS and S3 clients are created when first used)."""
    clock = clock or SystemClock()
    table = DynamoTable(client, settings.table_name)
    history = DynamoHistoryRepository(table, intent_index_keys, settings.history_retention_days)
    tests_repo = DynamoLoadTestRepository(table, history)
    estop_repo = DynamoEmergencyStopRepository(table, history)
    behaviors_repo = DynamoBehaviorRepository(table, history)
    assignments = DynamoAssignmentRepository(table)
    schools = DynamoSchoolRepository(table)
    changes = DynamoPondChanges(table)
    tests = LoadTestService(
        tests_repo, history, estop_repo, behaviors_repo, clock, settings.max_koi_per_test, settings.max_running_tests
    )
    polls = PollService(
        schools,
        assignments,
        estop_repo,
        tests_repo,
        changes,
        clock,
        settings.poll_interval_seconds,
        settings.missed_polls,
    )
    timing = AllocatorTiming(
        settings.allocator_period_seconds,
        settings.allocator_lease_seconds,
        settings.poll_interval_seconds,
        settings.missed_polls,
    )
    allocator = AllocatorService(
        assignments, schools, tests_repo, tests, history, estop_repo, changes, clock, timing, allocator_holder_id()
    )
    auth = AuthService(DynamoApiKeyRepository(table, history), clock)
    if settings.admin_token is not None:
        auth.ensure_bootstrap_admin(settings.admin_token.get_secret_value())
    clusters = guard_clusters(settings)
    prometheus = ApiClientPrometheusReader(clusters, settings.guard_timeout_seconds)
    clients = aws or AwsClients(settings)
    tokens = build_token_job_service(settings, table, clients, clock)
    notifications = build_notifications(settings, table, clock, lambda: tokens.dlq(sample=0))
    notifier = notifications.outbox
    guard_repo = DynamoGuardRepository(table, history)
    guard = GuardService(guard_repo, tests, estop_repo, prometheus, clock)
    rollouts = RolloutService(
        DynamoRolloutRepository(table, history),
        tests,
        guard_repo,
        estop_repo,
        clock,
        settings.max_koi_per_test,
        DynamoUnitOfWork(table),
    )
    return Keeper(
        settings=settings,
        tests=tests,
        estop=EmergencyStopService(estop_repo, history, tests, clock),
        polls=polls,
        allocator=allocator,
        auth=auth,
        behaviors=BehaviorService(
            behaviors_repo,
            clock,
            settings.behavior_move_batch_percent / 100,
            settings.behavior_move_interval_seconds,
        ),
        behavior_sources=BehaviorSourceService(
            DynamoBehaviorSourceRepository(table),
            behaviors_repo,
            history,
            SourceReaders(
                S3UsageObjects(lambda: clients.s3),
                prometheus,
                parse_locations(settings.behavior_source_locations),
                frozenset(clusters),
            ),
            clock,
        ),
        guard=guard,
        tokens=tokens,
        notifier=notifier,
        notifications=notifications,
        charts=ChartService(prometheus, clock, clusters),
        rollouts=rollouts,
        continuous=ContinuousTestService(tests, history, guard_repo, estop_repo, clock),
        deploys=DeployService(
            DynamoDeployRepository(table, history),
            prometheus,
            clock,
            clusters,
            settings.deploy_settle_seconds,
            settings.deploy_judge_deadline_seconds,
        ),
    )


def release_tick_steps(keeper: Keeper) -> dict[str, TickStep]:
    """The release tick's steps, in the order they run (rollouts before the notifications they cause)."""
    # Notices raised by the earlier steps (and a DLQ notice) are delivered by the last step in the same tick.
    return {
        "continuous": keeper.continuous.tick,
        "rollouts": keeper.rollouts.tick,
        "deploys": keeper.deploys.tick,
        "behavior_sources": keeper.behavior_sources.tick,
        "token_dlq": keeper.notifications.token_dlq.check,
        "notifications": keeper.notifications.deliverer.deliver_due,
    }


# The process's Keeper (``get_keeper()``), built on first use; ``with injected_keeper(...)`` replaces it in tests
# (they wire their own clock and table).
_keepers = ProcessWide(build_keeper)
get_keeper = _keepers.get
injected_keeper = _keepers.injected
