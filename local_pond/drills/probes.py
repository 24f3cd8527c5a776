"""Reading what the pond exposes: a School's and the target's metrics, and the Keeper's stored allocation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from koipond import metric_names as mn
from koipond.store.assignments import ASSIGNMENTS_PK
from local_pond.pond import LocalPond

MINT_METHOD = "admin.tokens.mint"  # the token pipeline's and the Schools' own calls, not a koi's
PROBE_TIMEOUT_SECONDS = 3.0

Ranges = list[tuple[int, int]]


@dataclass(frozen=True)
class SchoolView:
    """One scrape of a School's ``/metrics``."""

    koi: dict[str, int]  # mn.SCHOOL_KOI by test
    polls_ok: int  # mn.SCHOOL_KEEPER_POLLS_TOTAL with outcome mn.POLL_OK: the School's successful polls
    websockets: int

    @property
    def total_koi(self) -> int:
        return sum(self.koi.values())


@dataclass(frozen=True)
class TargetView:
    koi_requests: int  # Web API calls and websocket upgrades answered, the token mint left out
    websockets: int


@dataclass(frozen=True)
class StoredAllocation:
    """Every School's koi ranges per test as the allocator stored them: school -> test -> ranges."""

    by_school: dict[str, dict[str, Ranges]] = field(default_factory=dict)

    def koi(self, school: str, test: str) -> int:
        return sum(end - start for start, end in self.by_school.get(school, {}).get(test, []))

    def tests(self) -> set[str]:
        return {test for tests in self.by_school.values() for test in tests}


def _samples(url: str) -> list[tuple[str, dict[str, str], float]]:
    text = httpx.get(url, timeout=PROBE_TIMEOUT_SECONDS).raise_for_status().text
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def school_view(metrics_url: str) -> SchoolView | None:
    """The School's koi per test, successful polls and open websockets; None when it does not answer."""
    try:
        samples = _samples(metrics_url)
    except httpx.HTTPError:
        return None
    koi: dict[str, int] = {}
    polls_ok = websockets = 0
    for name, labels, value in samples:
        if name == mn.SCHOOL_KOI and value:
            koi[labels[mn.TEST_LABEL]] = int(value)
        elif name == mn.SCHOOL_KEEPER_POLLS_TOTAL and labels.get(mn.OUTCOME_LABEL) == mn.POLL_OK:
            polls_ok = int(value)
        elif name == mn.SCHOOL_WEBSOCKET_CONNECTIONS:
            websockets = int(value)
    return SchoolView(koi, polls_ok, websockets)


def target_view(target_url: str) -> TargetView | None:
    try:
        samples = _samples(f"{target_url}/metrics")
    except httpx.HTTPError:
        return None
    requests = websockets = 0
    for name, labels, value in samples:
        if name == mn.TARGET_REQUESTS_TOTAL and labels.get(mn.METHOD_LABEL) != MINT_METHOD:
            requests += int(value)
        elif name == mn.TARGET_WEBSOCKET_CONNECTIONS:
            websockets = int(value)
    return TargetView(requests, websockets)


def stored_allocation(dynamodb: Any, table: str) -> StoredAllocation:
    """One strongly consistent Query of the assignment items (the Keeper's API shows counts, not ranges).

    Raises:
        botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError: the embedded AWS is away.
    """
    by_school: dict[str, dict[str, Ranges]] = {}
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": ASSIGNMENTS_PK}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**query)
        for item in page["Items"]:
            school = item["sk"]["S"].removeprefix("SCHOOL#")
            bounds = json.loads(item["doc"]["S"])
            by_school[school] = {t: list(zip(b[::2], b[1::2], strict=True)) for t, b in bounds.items()}
        if "LastEvaluatedKey" not in page:
            return StoredAllocation(by_school)
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def dynamodb_client(pond: LocalPond) -> Any:
    """A DynamoDB client of the embedded AWS that gives up fast: a sample skipped beats a drill stalled."""
    import boto3
    from botocore.config import Config

    from koipond.settings import Settings

    pair = pond.config.aws_key_pair
    return boto3.client(
        "dynamodb",
        endpoint_url=pond.aws_url,
        region_name=Settings().aws_region,
        aws_access_key_id=pair.access_key_id,
        aws_secret_access_key=pair.secret_access_key,
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )


def overlaps(ranges_by_school: dict[str, Ranges]) -> list[tuple[str, str, int, int]]:
    """Koi held by two Schools at once, as (school, other school, start, end) of each overlap found."""
    spans = sorted((start, end, school) for school, ranges in ranges_by_school.items() for start, end in ranges)
    found = []
    reach, holder = -1, ""  # the furthest end seen so far, and whose range it is
    for start, end, school in spans:
        if start < reach and school != holder:
            found.append((holder, school, start, min(reach, end)))
        if end > reach:
            reach, holder = end, school
    return found
