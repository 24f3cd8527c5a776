"""Monthly cost of a deployment from list unit prices and stated usage (the README's cost table).

Run ``python -m cdk.cost`` to print the table; a test checks that the README shows the same one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from koipond.settings import Settings
from koipond.tokens.models import SHARD_SIZE
from school_container.settings import SchoolSettings

MISSED_POLLS: int = Settings.model_fields["missed_polls"].default

HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
MILLION = 1_000_000


@dataclass(frozen=True)
class UnitPrices:
    """us-east-1 on-demand list prices in USD; free tiers ignored."""

    lambda_requests_per_million: float = 0.20
    lambda_gb_second: float = 0.0000166667
    http_api_requests_per_million: float = 1.00
    dynamodb_wru_per_million: float = 1.25
    dynamodb_rru_per_million: float = 0.25
    sqs_requests_per_million: float = 0.40
    s3_put_per_thousand: float = 0.005
    s3_get_per_thousand: float = 0.0004
    kms_key_month: float = 1.00
    secret_month: float = 0.40
    alarm_month: float = 0.10
    logs_ingested_gb: float = 0.50
    eks_cluster_hour: float = 0.10
    node_hour: float = 0.08925  # c7i.large: 2 vCPU, 4 GiB
    nat_gateway_hour: float = 0.045


@dataclass(frozen=True)
class Usage:
    """How the platform is used; the defaults are koipond's own settings and measured figures."""

    koi: int
    school_capacity: int = SchoolSettings.model_fields["school_capacity"].default
    poll_interval_seconds: float = Settings.model_fields["poll_interval_seconds"].default
    keeper_memory_gb: float = 0.5
    keeper_seconds_per_poll: float = 0.1
    # A poll: the read of its API key, the heartbeat UpdateItem (under 1 KB whatever the School runs; the
    # item is in the index, which bills the write again; it returns the stamp of the School's assignment at
    # no read cost) and a strongly consistent read of the emergency stop. The School's assignment item is
    # read only by the first poll after it changed (see the allocator). bench/bench_keeper.py measures it.
    poll_wru: int = 2
    poll_rru: int = 2
    scheduled_period_seconds: int = 60  # the guard, the release tick, and the allocator's runs
    scheduled_memory_gb: float = 0.5
    scheduled_seconds_per_run: float = 1.0
    token_ttl_days: float = Settings.model_fields["token_ttl_seconds"].default / 86_400
    worker_seconds_per_shard: float = 2.0
    school_log_gb: float = 0.5
    control_plane_log_gb: float = 5.0
    # The allocator (koipond.services.allocator): one function looping all month, one run per scheduled period
    # and a pass per period of its own. Every pass renews the lease (a conditional UpdateItem under 1 KB) and
    # reads the emergency stop and the pond's change counter (strongly consistent, under 4 KB each). A full
    # pass also reads the running tests (a Query of the status index; only tests new or changed since the
    # last pass are read again by key) and every heartbeat (a Query of the index); in a quiet pond it runs
    # when the School silent the longest could die, about every two poll intervals. Each run
    # takes a new lease and so reloads every assignment (one strongly consistent Query). A change of the pond
    # (a test started, scaled, shed or stopped) is assumed to rewrite every School's assignment: a transaction
    # of the lease's ConditionCheck, the Put and the stamp on the School's heartbeat item (2 WRU each, under
    # 1 KB), plus the test's history event; each School's next poll then reads its assignment once.
    allocator_memory_gb: float = 0.5
    allocator_period_seconds: float = Settings.model_fields["allocator_period_seconds"].default
    lease_wru_per_pass: int = 1
    estop_rru_per_pass: int = 1
    counter_rru_per_pass: int = 1
    heartbeat_bytes: int = 300  # as written by a poll (totals, whatever the School runs) and the allocator
    test_item_bytes: int = 700
    assignment_bytes: int = 400  # a School's assignment of one test
    tests_per_school: float = 1.0  # the design's scale target: 1,000 running tests on 1,000 Schools
    pond_changes_per_hour: float = 1.0
    assignment_write_wru: int = 6
    assignment_read_rru: int = 1
    history_event_wru: int = 2

    @property
    def schools(self) -> int:
        return math.ceil(self.koi / self.school_capacity)

    @property
    def running_tests(self) -> int:
        return math.ceil(self.schools * self.tests_per_school)


@dataclass(frozen=True)
class LineItem:
    name: str
    monthly_usd: float


def monthly_cost(usage: Usage, prices: UnitPrices = UnitPrices()) -> list[LineItem]:
    """One line per part of the platform; Schools are one per node and the control plane grows per School."""
    return [
        LineItem("EKS control plane", prices.eks_cluster_hour * HOURS_PER_MONTH),
        LineItem("School nodes", usage.schools * prices.node_hour * HOURS_PER_MONTH),
        LineItem("NAT gateway (hourly)", prices.nat_gateway_hour * HOURS_PER_MONTH),
        LineItem("Keeper polls", usage.schools * poll_cost_per_school(usage, prices)),
        LineItem("Allocator", allocator_cost(usage, prices)),
        LineItem("Guard + release tick", 2 * scheduled_function_cost(usage, prices)),
        LineItem("Token pipeline", token_pipeline_cost(usage, prices)),
        LineItem("KMS keys, secrets, alarm", 2 * prices.kms_key_month + 3 * prices.secret_month + prices.alarm_month),
        LineItem(
            "CloudWatch Logs",
            (usage.schools * usage.school_log_gb + usage.control_plane_log_gb) * prices.logs_ingested_gb,
        ),
    ]


def poll_cost_per_school(usage: Usage, prices: UnitPrices) -> float:
    """Each poll: one HTTP API request, one Keeper Lambda run, ``poll_wru`` writes and ``poll_rru`` reads."""
    polls = SECONDS_PER_MONTH / usage.poll_interval_seconds
    lambda_cost = _lambda_cost(polls, usage.keeper_memory_gb, usage.keeper_seconds_per_poll, prices)
    per_million = (
        prices.http_api_requests_per_million
        + usage.poll_wru * prices.dynamodb_wru_per_million
        + usage.poll_rru * prices.dynamodb_rru_per_million
    )
    return lambda_cost + polls / MILLION * per_million


def allocator_cost(usage: Usage, prices: UnitPrices) -> float:
    """One run per scheduled period lasting the whole period, and the DynamoDB units of the allocator.

    Per pass the lease write and :func:`allocator_pass_rru`; per run one Query reloading every assignment
    (each run takes a new lease); per change of the pond every School's assignment and one history event
    written, and every School's assignment read once by its next poll.
    """
    runs = SECONDS_PER_MONTH / usage.scheduled_period_seconds
    passes = SECONDS_PER_MONTH / usage.allocator_period_seconds
    changes = usage.pond_changes_per_hour * HOURS_PER_MONTH
    wru = passes * usage.lease_wru_per_pass + changes * (
        usage.schools * usage.assignment_write_wru + usage.history_event_wru
    )
    rru = (
        passes * allocator_pass_rru(usage)
        + runs * query_rru(usage.schools * usage.assignment_bytes, consistent=True)
        + changes * usage.schools * usage.assignment_read_rru
    )
    return (
        _lambda_cost(runs, usage.allocator_memory_gb, usage.scheduled_period_seconds, prices)
        + wru / MILLION * prices.dynamodb_wru_per_million
        + rru / MILLION * prices.dynamodb_rru_per_million
    )


def allocator_pass_rru(usage: Usage) -> float:
    """A pass's reads, on average: the emergency stop and the change counter every pass; the running tests
    (the index) and the heartbeats in the one pass out of :func:`passes_per_full_pass` that is full."""
    tests = usage.running_tests
    full = query_rru(tests * usage.test_item_bytes) + query_rru(usage.schools * usage.heartbeat_bytes)
    return usage.estop_rru_per_pass + usage.counter_rru_per_pass + full / passes_per_full_pass(usage)


def passes_per_full_pass(usage: Usage) -> float:
    """In a quiet pond a full pass runs when the School silent the longest could die: 3 intervals after
    its last poll, which is at most one interval old at the end of a full pass, so every 2 intervals."""
    return (MISSED_POLLS - 1) * usage.poll_interval_seconds / usage.allocator_period_seconds


def query_rru(returned_bytes: int, *, consistent: bool = False) -> float:
    """A Query's read units: one per 4 KB of items returned (summed, then rounded up), half when eventually
    consistent; at least one 4 KB block even when nothing is returned."""
    blocks = max(1, math.ceil(returned_bytes / 4096))
    return blocks if consistent else 0.5 * blocks


def scheduled_function_cost(usage: Usage, prices: UnitPrices) -> float:
    runs = SECONDS_PER_MONTH / usage.scheduled_period_seconds
    return _lambda_cost(runs, usage.scheduled_memory_gb, usage.scheduled_seconds_per_run, prices)


def token_pipeline_cost(usage: Usage, prices: UnitPrices) -> float:
    """Every koi's token re-minted once per TTL: per shard one SQS message (3 requests), a worker run, a PUT,
    and one GET by its School."""
    shards = math.ceil(usage.koi / SHARD_SIZE) * DAYS_PER_MONTH / usage.token_ttl_days
    return (
        _lambda_cost(shards, usage.scheduled_memory_gb, usage.worker_seconds_per_shard, prices)
        + 3 * shards / MILLION * prices.sqs_requests_per_million
        + shards / 1000 * (prices.s3_put_per_thousand + prices.s3_get_per_thousand)
    )


def _lambda_cost(invocations: float, memory_gb: float, seconds: float, prices: UnitPrices) -> float:
    return (
        invocations / MILLION * prices.lambda_requests_per_million
        + invocations * memory_gb * seconds * prices.lambda_gb_second
    )


def markdown_table(koi_counts: tuple[int, ...] = (5_000, 500_000, 5_000_000), prices: UnitPrices = UnitPrices()) -> str:
    """The README's table: one column per koi count, dollars rounded to cents, and a total row."""
    usages = [Usage(koi=koi) for koi in koi_counts]
    columns = [monthly_cost(usage, prices) for usage in usages]
    header = "| per month | " + " | ".join(f"{u.koi:,} koi ({_schools(u.schools)})" for u in usages) + " |"
    rows = [header, "|---|" + "---:|" * len(usages)]
    for index, item in enumerate(columns[0]):
        rows.append(f"| {item.name} | " + " | ".join(f"${c[index].monthly_usd:,.2f}" for c in columns) + " |")
    totals = " | ".join(f"**${sum(i.monthly_usd for i in c):,.2f}**" for c in columns)
    rows.append(f"| **total** | {totals} |")
    return "\n".join(rows)


def _schools(count: int) -> str:
    return f"{count:,} School" if count == 1 else f"{count:,} Schools"


if __name__ == "__main__":
    print(markdown_table())
