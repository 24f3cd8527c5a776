"""The Keeper in process for bench_keeper.py: DynamoDB billing, a lean embedded AWS, and one cell's run.

``MeteredDynamoDB`` wraps the boto3 client given to ``build_keeper`` and bills each call as DynamoDB
would; ``lean_moto`` keeps moto's transactions from costing O(table) and its memory from growing
without bound; ``run_cell`` starts a cell's tests and measures one round of polls (and allocator passes).

Item size follows DynamoDB's rules: attribute name bytes plus value bytes; strings count their UTF-8
bytes, numbers one byte per two significant digits plus one, binary its raw bytes, booleans and nulls
one byte, lists and maps three bytes plus one per element plus their contents.

Billing (on-demand units, which provisioned capacity mirrors):

* reads: GetItem, and each item of BatchGetItem, cost one unit per started 4 KB of the item (a missing
  item one unit); Query and Scan sum the bytes of every item a call returns, then round up to 4 KB
  (one unit at least); eventually consistent reads (every index read) cost half. TransactGetItems: 2x.
* writes: PutItem, UpdateItem and DeleteItem cost one unit per started 1 KB of the larger of the item
  before and after (one unit at least); TransactWriteItems 2x per action, a ConditionCheck billed as a
  write of the item it checks. A write whose condition fails is billed too, with what was there.
* index writes are counted apart (``index_wcu``): a write that puts, changes or removes an item carrying
  a global secondary index's keys also writes the index (twice when the index key changes).

The proxy reads items before and after each write through the unwrapped client, unbilled, to know
their sizes. Everything else (waiters, exceptions, ``meta``) passes through untouched.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from botocore.exceptions import ClientError

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
RawItem = Mapping[str, Any]  # DynamoDB wire form: {"name": {"S": "..."}, ...}


# --- item size ----------------------------------------------------------------------------------------


def number_size(text: str) -> int:
    """Bytes of a number: one per two significant digits, plus one (leading and trailing zeros trimmed)."""
    mantissa = text.strip().lstrip("+-").lower().split("e")[0]
    digits = mantissa.replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def _binary_size(value: bytes | str) -> int:
    return len(value) if isinstance(value, bytes | bytearray) else len(base64.b64decode(value))


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in wire form (without its name)."""
    ((kind, inner),) = value.items()
    sizes: dict[str, Any] = {
        "S": lambda: len(inner.encode()),
        "N": lambda: number_size(inner),
        "B": lambda: _binary_size(inner),
        "BOOL": lambda: 1,
        "NULL": lambda: 1,
        "SS": lambda: sum(len(s.encode()) for s in inner),
        "NS": lambda: sum(number_size(n) for n in inner),
        "BS": lambda: sum(_binary_size(b) for b in inner),
        "L": lambda: 3 + sum(1 + value_size(v) for v in inner),
        "M": lambda: 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items()),
    }
    return int(sizes[kind]())


def item_size(item: RawItem | None) -> int:
    """Bytes of an item in wire form, as DynamoDB counts them (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def read_units(size: int, consistent: bool) -> float:
    """Read units of one item (or one Query page) of ``size`` bytes."""
    return max(1, math.ceil(size / READ_UNIT_BYTES)) * (1.0 if consistent else 0.5)


def write_units(size: int) -> int:
    """Write units of writing an item whose larger side (before or after) is ``size`` bytes."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


# --- the ledger ---------------------------------------------------------------------------------------


@dataclass(eq=False)  # ledgers are told apart by identity: two empty ones are still two
class Ledger:
    """Units and calls billed while it was open; the largest item written and any write refused."""

    rcu: float = 0.0
    wcu: float = 0.0
    index_wcu: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    largest_written: int = 0
    largest_key: str = ""
    largest_attempted: int = 0  # a Put's item as sent, written or not
    refused: list[str] = field(default_factory=list)  # writes DynamoDB refused, e.g. an item over 400 KB

    def note_written(self, size: int, key: str) -> None:
        if size > self.largest_written:
            self.largest_written, self.largest_key = size, key


@dataclass(frozen=True)
class _Table:
    keys: tuple[str, ...]  # the table's key attributes
    index_keys: tuple[tuple[str, ...], ...]  # per global secondary index, its key attributes


class MeteredDynamoDB:
    """A boto3 DynamoDB client that bills every data-plane call into the open ledgers."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._tables: dict[str, _Table] = {}
        self.total = Ledger()
        self._open: list[Ledger] = [self.total]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @contextlib.contextmanager
    def metering(self) -> Iterator[Ledger]:
        """A fresh ledger billed for every call made inside the block (the total is billed too)."""
        ledger = Ledger()
        self._open.append(ledger)
        try:
            yield ledger
        finally:
            self._open.remove(ledger)

    def _bill(self, op: str, rcu: float = 0.0, wcu: float = 0.0, index_wcu: float = 0.0) -> None:
        """Add units to every open ledger; ``op`` (when given) counts one call."""
        for ledger in self._open:
            if op:
                ledger.calls[op] += 1
            ledger.rcu += rcu
            ledger.wcu += wcu
            ledger.index_wcu += index_wcu

    def _written(self, size: int, key: str) -> None:
        for ledger in self._open:
            ledger.note_written(size, key)

    def _attempted(self, size: int, refused: str | None) -> None:
        for ledger in self._open:
            ledger.largest_attempted = max(ledger.largest_attempted, size)
            if refused:
                ledger.refused.append(refused)

    # --- reads ---

    def get_item(self, **kwargs: Any) -> Any:
        answer = self._client.get_item(**kwargs)
        found = answer.get("Item")
        if found and "ProjectionExpression" in kwargs:  # billed on the whole item, not what is returned
            found = self._raw_get(kwargs["TableName"], kwargs["Key"])
        self._bill("GetItem", rcu=read_units(item_size(found), bool(kwargs.get("ConsistentRead"))))
        return answer

    def batch_get_item(self, **kwargs: Any) -> Any:
        answer = self._client.batch_get_item(**kwargs)
        rcu = 0.0
        for table, request in kwargs["RequestItems"].items():
            consistent = bool(request.get("ConsistentRead"))
            found = answer.get("Responses", {}).get(table, [])
            unprocessed = len(answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
            missing = len(request["Keys"]) - len(found) - unprocessed
            rcu += sum(read_units(item_size(i), consistent) for i in found) + missing * read_units(0, consistent)
        self._bill("BatchGetItem", rcu=rcu)
        return answer

    def query(self, **kwargs: Any) -> Any:
        return self._page("Query", self._client.query, kwargs)

    def scan(self, **kwargs: Any) -> Any:
        return self._page("Scan", self._client.scan, kwargs)

    def _page(self, op: str, call: Any, kwargs: dict[str, Any]) -> Any:
        answer = call(**kwargs)
        size = sum(item_size(i) for i in answer.get("Items", []))
        self._bill(op, rcu=read_units(size, bool(kwargs.get("ConsistentRead"))))
        return answer

    def transact_get_items(self, **kwargs: Any) -> Any:
        answer = self._client.transact_get_items(**kwargs)
        rcu = sum(2 * read_units(item_size(r.get("Item")), True) for r in answer.get("Responses", []))
        self._bill("TransactGetItems", rcu=rcu)
        return answer

    # --- writes ---

    def put_item(self, **kwargs: Any) -> Any:
        return self._single_write("PutItem", self._client.put_item, kwargs, kwargs["Item"])

    def update_item(self, **kwargs: Any) -> Any:
        return self._single_write("UpdateItem", self._client.update_item, kwargs, None)

    def delete_item(self, **kwargs: Any) -> Any:
        return self._single_write("DeleteItem", self._client.delete_item, kwargs, None)

    def _single_write(self, op: str, call: Any, kwargs: dict[str, Any], sent: RawItem | None) -> Any:
        table = kwargs["TableName"]
        key = kwargs.get("Key") or self._key_of(table, sent or {})
        before = self._raw_get(table, key)
        refused = ""
        try:
            return call(**kwargs)
        except ClientError as exc:
            refused = _size_refusal(exc)
            raise
        finally:
            self._bill(op)
            self._bill_write(table, key, before, self._raw_get(table, key), sent, refused, factor=1)

    def transact_write_items(self, **kwargs: Any) -> Any:
        actions = [(kind, body) for action in kwargs["TransactItems"] for kind, body in action.items()]
        targets = [(b["TableName"], b.get("Key") or self._key_of(b["TableName"], b["Item"])) for _, b in actions]
        befores = [self._raw_get(table, key) for table, key in targets]
        refused = ""
        try:
            return self._client.transact_write_items(**kwargs)
        except ClientError as exc:
            refused = _size_refusal(exc)
            raise
        finally:
            self._bill("TransactWriteItems")
            for (kind, body), (table, key), before in zip(actions, targets, befores, strict=True):
                after = before if kind == "ConditionCheck" else self._raw_get(table, key)
                self._bill_write(table, key, before, after, body.get("Item"), refused, factor=2)

    def _bill_write(
        self,
        table: str,
        key: RawItem,
        before: RawItem | None,
        after: RawItem | None,
        sent: RawItem | None,
        refused: str,
        *,
        factor: int,
    ) -> None:
        """Bill one written item: a refused write (an item over 400 KB) is not billed, only noted."""
        old, new, label = item_size(before), item_size(after), _label(key)
        self._attempted(item_size(sent), f"{label}: {refused}" if refused else None)
        if refused:
            return
        self._bill("", wcu=factor * write_units(max(old, new)), index_wcu=self._index_units(table, before, after))
        if after is not None and after != before:
            self._written(new, label)

    def _index_units(self, table: str, before: RawItem | None, after: RawItem | None) -> int:
        if before == after:
            return 0
        units = 0
        for keys in self._describe(table).index_keys:
            old_key = _key_values(before, keys)
            new_key = _key_values(after, keys)
            if old_key and new_key and old_key == new_key:
                units += write_units(max(item_size(before), item_size(after)))
            else:
                units += write_units(item_size(before)) if old_key else 0
                units += write_units(item_size(after)) if new_key else 0
        return units

    # --- unbilled plumbing ---

    def _describe(self, table: str) -> _Table:
        if table not in self._tables:
            description = self._client.describe_table(TableName=table)["Table"]
            keys = tuple(k["AttributeName"] for k in description["KeySchema"])
            indexes = tuple(
                tuple(k["AttributeName"] for k in index["KeySchema"])
                for index in description.get("GlobalSecondaryIndexes", [])
            )
            self._tables[table] = _Table(keys, indexes)
        return self._tables[table]

    def _key_of(self, table: str, item: RawItem) -> dict[str, Any]:
        return {name: item[name] for name in self._describe(table).keys}

    def _raw_get(self, table: str, key: RawItem) -> RawItem | None:
        with contextlib.suppress(ClientError):
            found: RawItem | None = self._client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
            return found
        return None


def _size_refusal(exc: ClientError) -> str:
    """The error's message when DynamoDB refused a write for an item's size, else ""."""
    message = str(exc.response.get("Error", {}).get("Message", ""))
    reasons = " ".join(str(r.get("Message", "")) for r in exc.response.get("CancellationReasons", []) or [])
    text = f"{message} {reasons}"
    return message if "size" in text.lower() else ""


def _key_values(item: RawItem | None, keys: Sequence[str]) -> tuple[Any, ...] | None:
    if item is None or any(name not in item for name in keys):
        return None
    return tuple(repr(item[name]) for name in keys)


def _label(key: RawItem) -> str:
    """An item's partition key with ids cut off: ``ALLOCATION``, ``SCHOOL#…``, ``TEST#…``."""
    values = [next(iter(v.values())) for v in key.values()]
    first = str(values[0]) if values else "?"
    head, sep, _ = first.partition("#")
    return f"{head}{sep}…" if sep else first


# --- the embedded AWS, fit for thousands of transactions -----------------------------------------------


@contextlib.contextmanager
def lean_moto() -> Iterator[None]:
    """moto with the pond's fixes (item-level transaction rollback, no instance tracking: see
    ``local_pond.moto_fixes``; they stay applied) and, inside the block, DynamoDB answers written as
    JSON directly.

    Without the fixes moto 5 deep-copies the whole table once per action of every transaction and keeps
    every model it ever made: each transaction costs O(table) and memory grows by table x actions, past
    20 GB for 100 Schools x 49 tests. Neither is DynamoDB's behaviour, so neither belongs in a measurement.
    """
    from moto.dynamodb import responses as ddb_responses

    from local_pond import moto_fixes

    moto_fixes.apply()
    original_result = ddb_responses.DynamoResult.execute_result

    def execute_result(result: Any, _context: Any) -> tuple[int, dict[str, str], str]:
        # moto's generic response serializer walks the botocore model of every answer: about 60 % of a
        # Query's time at 1,000 Schools. DynamoDB's answer is its result as JSON, which this writes directly
        # (answers holding other types, such as a table description's dates, take moto's own way).
        try:
            return 200, {}, json.dumps(result.result)
        except TypeError:
            return original_result(result, _context)  # type: ignore[no-any-return]

    ddb_responses.DynamoResult.execute_result = execute_result  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        ddb_responses.DynamoResult.execute_result = original_result  # type: ignore[method-assign]


# --- one cell: N Schools polling a Keeper in process over the embedded AWS ----------------------------

TOTAL_KOI = 5_000_000
KOI_BLOCK = 100  # School capacities are whole blocks
POLL_INTERVAL_SECONDS = 5.0
ALLOCATOR_PERIOD_SECONDS = 1.0
MAX_WARMUP_ROUNDS = 5
START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BENCH_BEHAVIOR = {
    "description": "one cheap call",
    "actions": {"auth_test": {"method": "POST", "path": "/api/auth.test", "rate_per_hour": 1}},
}


@dataclass(frozen=True)
class Cell:
    """``schools`` Schools and ``tests`` running tests sharing ``koi`` koi evenly."""

    schools: int
    tests: int
    koi: int = TOTAL_KOI

    @property
    def capacity(self) -> int:
        """Per School: the koi over the Schools, rounded up to whole blocks."""
        return math.ceil(self.koi / self.schools / KOI_BLOCK) * KOI_BLOCK

    def koi_of(self, test: int) -> int:
        return self.koi // self.tests + (1 if test < self.koi % self.tests else 0)


@dataclass(frozen=True)
class Sample:
    """One poll or one allocator pass: wall time and the units it was billed."""

    seconds: float
    rcu: float
    wcu: float
    index_wcu: float

    @classmethod
    def of(cls, seconds: float, ledger: Ledger) -> Sample:
        return cls(seconds, ledger.rcu, ledger.wcu, ledger.index_wcu)


@dataclass
class CellResult:
    cell: Cell
    design: str  # "polls allocate" (one allocation document) or "allocator" (a lease holder)
    skipped: str = ""  # why the cell did not run, e.g. "n/a (cap)"
    polls: list[Sample] = field(default_factory=list)
    passes: list[Sample] = field(default_factory=list)
    changed_polls: list[Sample] = field(default_factory=list)  # warm-up polls answered with a new assignment
    warmup_rounds: int = 0
    settled: bool = False  # the last warm-up round changed no assignment and every koi was held
    assigned: int = 0  # koi the Schools' last answers hold
    tests_per_school: int = 0  # the most tests one School's last answer held
    demanded: int = 0
    run: Ledger = field(default_factory=Ledger)  # warm-up and measured round together
    seconds: float = 0.0


def running_cap() -> int | None:
    """The most tests the Keeper lets run at once: a setting, a fixed cap (49 before the allocator), or None."""
    from koipond.services import loadtests
    from koipond.settings import Settings

    cap = getattr(Settings(), "max_running_tests", None) or getattr(loadtests, "MAX_RUNNING_TESTS", None)
    return int(cap) if cap is not None else None


def run_cell(cell: Cell) -> CellResult:
    """Start the cell's tests, warm up until the allocation settles, then measure one round of polls."""
    import boto3
    from moto import mock_aws

    from koipond.clock import FixedClock
    from koipond.composition import build_keeper
    from koipond.settings import Settings
    from koipond.store.schema import create_table

    started = time.perf_counter()
    with mock_aws(), lean_moto():
        raw = boto3.client("dynamodb", region_name="us-east-1")
        settings = Settings(poll_interval_seconds=POLL_INTERVAL_SECONDS, missed_polls=3, table_name="koipond-bench")
        create_table(raw, settings.table_name)
        metered = MeteredDynamoDB(raw)
        clock = FixedClock(START)
        pond = _InProcessPond(build_keeper(settings, metered, clock), metered, clock, cell)
        result = CellResult(cell, "allocator" if pond.allocator else "polls allocate")
        cap = running_cap()
        if cap is not None and cell.tests > cap:
            result.skipped = "n/a (cap)"
            return result
        pond.start_tests()
        with metered.metering() as result.run:
            result.warmup_rounds, result.settled = pond.warm_up()
            result.polls, result.passes = pond.round()
        result.assigned, result.demanded = pond.assigned(), cell.koi
        result.tests_per_school = max(len(tests) for tests in pond.running.values())
        result.changed_polls = pond.changed_polls
    result.seconds = time.perf_counter() - started
    return result


class _InProcessPond:
    """The cell's Schools, polling in turn over one poll interval of a clock that moves only when told."""

    def __init__(self, keeper: Any, metered: MeteredDynamoDB, clock: Any, cell: Cell) -> None:
        self.keeper, self.metered, self.clock, self.cell = keeper, metered, clock, cell
        self.allocator = getattr(keeper, "allocator", None)
        self.period = float(getattr(keeper.settings, "allocator_period_seconds", ALLOCATOR_PERIOD_SECONDS))
        self.ids = [f"school-{n:04d}" for n in range(cell.schools)]
        self.running: dict[str, dict[str, int]] = {school: {} for school in self.ids}
        # A Keeper that answers "unchanged" to a School naming the assignment it runs gets that name.
        self.known: dict[str, int | None] | None = (
            {school: None for school in self.ids}
            if "known_version" in inspect.signature(keeper.polls.poll).parameters
            else None
        )
        self.changed_polls: list[Sample] = []
        self.authorization = ""
        self.elapsed = 0.0
        self.next_pass = 0.0
        self.pass_reports: list[Any] = []

    def start_tests(self) -> None:
        from koipond.models.auth import Role
        from koipond.models.tests import BehaviorRef
        from koipond.services.loadtests import NewLoadTest

        self.keeper.behaviors.put("bench", BENCH_BEHAVIOR, "bench")
        # Every poll authenticates first (one read of its key), as the Keeper's route does.
        issued = self.keeper.auth.create_key("bench schools", Role.SCHOOL, "bench", school_prefix="school-")
        self.authorization = f"Bearer {issued.token}"
        # Each start lists every running test to enforce the cap (run_cell checked it already): 1,000
        # starts would read half a million items from moto, minutes that measure nothing here.
        service = type(self.keeper.tests)
        skip_cap = "_refuse_past_running_cap" in vars(service)
        with mock.patch.object(service, "_refuse_past_running_cap") if skip_cap else contextlib.nullcontext():
            for n in range(self.cell.tests):
                spec = NewLoadTest(
                    name=f"t{n:04d}",
                    target="http://127.0.0.1:8800",
                    behavior=BehaviorRef(name="bench"),
                    workspace="bench",
                    koi=self.cell.koi_of(n),
                )
                self.keeper.tests.create(spec, "bench")

    def warm_up(self) -> tuple[int, bool]:
        """Rounds until one round changes no assignment and every koi is held: how many ran, and whether it did."""
        for rounds in range(1, MAX_WARMUP_ROUNDS + 1):
            self.pass_reports = []
            with self.metered.metering() as ledger:
                self.round()
            if self._settled(ledger) and self.assigned() == self.cell.koi:
                return rounds, True
        return MAX_WARMUP_ROUNDS, False

    def _settled(self, ledger: Ledger) -> bool:
        if self.allocator is None:  # today a poll that changes the allocation writes it in a transaction
            return ledger.calls["TransactWriteItems"] == 0
        return all(r.written == 0 and r.moved_koi == 0 for r in self.pass_reports)

    def round(self) -> tuple[list[Sample], list[Sample]]:
        """Every School polls once, evenly spread over one interval; the allocator runs on its period."""
        polls: list[Sample] = []
        passes: list[Sample] = []
        step = POLL_INTERVAL_SECONDS / len(self.ids)
        for school in self.ids:
            self.clock.advance(step)
            self.elapsed += step
            while self.allocator is not None and self.elapsed >= self.next_pass:
                passes.append(self._allocator_pass())
                self.next_pass += self.period
            polls.append(self._poll(school))
        return polls, passes

    def _poll(self, school: str) -> Sample:
        known = {} if self.known is None else {"known_version": self.known[school]}
        with self.metered.metering() as ledger:
            begun = time.perf_counter()
            self.keeper.auth.authenticate(self.authorization)
            answer = self.keeper.polls.poll(school, self.cell.capacity, self.running[school], **known)
            seconds = time.perf_counter() - begun
        sample = Sample.of(seconds, ledger)
        if answer.assignments is not None:  # None: unchanged, the School keeps what it runs
            self.running[school] = {a.test_id: a.koi for a in answer.assignments}
            if self.known is not None:
                self.changed_polls.append(sample)
                self.known[school] = answer.allocation_version
        return sample

    def _allocator_pass(self) -> Sample:
        with self.metered.metering() as ledger:
            begun = time.perf_counter()
            self.pass_reports.append(self.allocator.run_pass())  # type: ignore[union-attr]
            seconds = time.perf_counter() - begun
        return Sample.of(seconds, ledger)

    def assigned(self) -> int:
        return sum(sum(tests.values()) for tests in self.running.values())


if __name__ == "__main__":
    # ``keeper_sim.py --lean-aws aws --host H --port P``: ``koipond aws`` with lean transactions (bench_keeper.py).
    if sys.argv[1:2] == ["--lean-aws"]:
        from koipond_cli.main import cli

        with lean_moto():
            cli.main(args=sys.argv[2:], prog_name="koipond")
