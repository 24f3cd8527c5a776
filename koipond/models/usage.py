"""Usage exports as a data warehouse query writes them: per user and API method, the calls over a window.

Columns (CSV with a header row, or keys of JSON lines): ``user``, ``method``, ``calls``, and optionally
``window_start`` and ``window_end`` (ISO 8601; a time without offset is UTC). Other columns are ignored
and named. Rows of the same user and method add up. Either every row states its window, or none does
and the caller states its length; rows' windows must tile one span (equal, or each beginning where
another ends), which is the window of the export. Every problem names its line (and column), the
first ``MAX_PROBLEMS`` of them at once.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from koipond.errors import UsageInvalidError
from koipond.models.durations import format_duration

REQUIRED_COLUMNS = ("user", "method", "calls")
WINDOW_COLUMNS = ("window_start", "window_end")
MAX_PROBLEMS = 20
MAX_NAME_LENGTH = 256


@dataclass(frozen=True)
class UsageProblem:
    """What is wrong, and where: a 1-based line, and the column when one is to blame."""

    line: int
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class UsageWindow:
    """The time an export covers: its length, and its bounds when the export states them."""

    seconds: float
    start: datetime | None = None
    end: datetime | None = None

    def describe(self) -> str:
        """``7d``, or ``2026-11-21T00:00:00+00:00 to 2026-11-28T00:00:00+00:00 (7d)``."""
        length = format_duration(self.seconds)
        if self.start is None or self.end is None:
            return length
        return f"{self.start.isoformat()} to {self.end.isoformat()} ({length})"


@dataclass(frozen=True)
class UsageTable:
    """Calls per user and method over one window."""

    calls: Mapping[str, Mapping[str, float]]
    """user -> method -> calls; a user appears once it has a row, even of 0 calls."""
    window: UsageWindow
    rows: int
    ignored_columns: tuple[str, ...] = ()

    @property
    def methods(self) -> tuple[str, ...]:
        """Every method of the export, sorted."""
        return tuple(sorted({method for by_method in self.calls.values() for method in by_method}))


def read_usage_csv(lines: Iterable[str], window_seconds: float | None) -> UsageTable:
    """Read a CSV export (header row first).

    Args:
        lines: the file's lines (a text file object will do).
        window_seconds: the window's length when the export has no window columns, else None.

    Returns:
        The calls per user and method.

    Raises:
        UsageInvalidError: a problem in the file, or the window is stated twice or not at all.
    """
    reader = csv.reader(_without_bom(lines))
    header = next(reader, None)
    if header is None:
        raise _invalid([UsageProblem(1, None, "the file is empty; expected a header row: user,method,calls")])
    columns = [name.strip().lower() for name in header]
    collector = _Collector(window_seconds)
    collector.start(columns, reader.line_num)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            collector.problem(reader.line_num, None, f"has {len(row)} fields; the header has {len(columns)}")
            continue
        collector.add(reader.line_num, dict(zip(columns, row, strict=True)))
    return collector.finish(reader.line_num)


def read_usage_jsonl(lines: Iterable[str], window_seconds: float | None) -> UsageTable:
    """Read a JSON lines export: one object per line, blank lines skipped.

    Args:
        lines: the file's lines.
        window_seconds: the window's length when the rows have no window keys, else None.

    Returns:
        The calls per user and method.

    Raises:
        UsageInvalidError: a problem in the file, or the window is stated twice or not at all.
    """
    collector = _Collector(window_seconds)
    number = 0
    for number, line in enumerate(_without_bom(lines), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            collector.problem(number, None, f"not valid JSON: {exc}")
            continue
        if not isinstance(record, dict):
            collector.problem(number, None, f"expected a JSON object, got {type(record).__name__}")
            continue
        if not collector.started:
            collector.start(list(record), number)
        collector.add(number, record)
    return collector.finish(max(number, 1))


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    for i, line in enumerate(lines):
        yield line.removeprefix("\ufeff") if i == 0 else line


def _invalid(problems: list[UsageProblem]) -> UsageInvalidError:
    shown = "; ".join(str(p) for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return UsageInvalidError(
        f"the usage export is invalid: {shown}{more}",
        details={"problems": [{"line": p.line, "column": p.column, "problem": p.problem} for p in problems]},
    )


@dataclass
class _Collector:
    """Checks rows and adds them up; raises once it has ``MAX_PROBLEMS`` problems, or at the end if any."""

    window_seconds: float | None
    started: bool = False
    windowed: bool = False
    ignored: tuple[str, ...] = ()
    rows: int = 0
    calls: dict[str, dict[str, float]] = field(default_factory=dict)
    windows: dict[tuple[datetime, datetime], int] = field(default_factory=dict)
    problems: list[UsageProblem] = field(default_factory=list)

    def start(self, columns: list[str], line: int) -> None:
        self.started = True
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise _invalid([UsageProblem(line, duplicated[0], "the column appears twice")])
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        present = [c for c in WINDOW_COLUMNS if c in columns]
        if len(present) == 1:
            missing.append(next(c for c in WINDOW_COLUMNS if c not in columns))
        if missing:
            found = ", ".join(columns) or "none"
            raise _invalid([UsageProblem(line, None, f"missing column {', '.join(missing)} (found: {found})")])
        self.windowed = bool(present)
        self.ignored = tuple(c for c in columns if c not in REQUIRED_COLUMNS + WINDOW_COLUMNS)
        self._check_window_statement(line)

    def _check_window_statement(self, line: int) -> None:
        if self.windowed and self.window_seconds is not None:
            raise _invalid([UsageProblem(line, None, "the export states its window (window_start, window_end) and "
                                         "so does the window option: give it once")])  # fmt: skip
        if not self.windowed and self.window_seconds is None:
            raise _invalid([UsageProblem(line, None, "no window: the export has no window_start and window_end "
                                         "columns, so state its length (e.g. --window 7d)")])  # fmt: skip
        if self.window_seconds is not None and not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            raise _invalid([UsageProblem(line, None, f"the window must be longer than 0s, got {self.window_seconds}")])

    def problem(self, line: int, column: str | None, text: str) -> None:
        self.problems.append(UsageProblem(line, column, text))
        if len(self.problems) >= MAX_PROBLEMS:
            raise _invalid([*self.problems, UsageProblem(line, None, "stopped reading here")])

    def add(self, line: int, record: Mapping[str, object]) -> None:
        before = len(self.problems)
        missing = [c for c in REQUIRED_COLUMNS + (WINDOW_COLUMNS if self.windowed else ()) if c not in record]
        for column in missing:
            self.problem(line, column, "missing")
        user = self._name(line, "user", record.get("user"))
        method = self._name(line, "method", record.get("method"))
        calls = self._calls(line, record.get("calls"))
        window = self._window(line, record) if self.windowed else None
        if len(self.problems) > before or user is None or method is None or calls is None:
            return
        self.rows += 1
        by_method = self.calls.setdefault(user, {})
        by_method[method] = by_method.get(method, 0.0) + calls
        if window is not None:
            self.windows.setdefault(window, line)

    def _name(self, line: int, column: str, value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.problem(line, column, f"expected text, got {_shown(value)}")
            return None
        text = str(value).strip()
        if not text:
            self.problem(line, column, "is empty")
        elif len(text) > MAX_NAME_LENGTH or not text.isprintable():
            self.problem(line, column, f"expected one line of at most {MAX_NAME_LENGTH} printable characters")
        else:
            return text
        return None

    def _calls(self, line: int, value: object) -> float | None:
        if value is None:
            return None
        number = _number(value)
        if number is None:
            self.problem(line, "calls", f"not a number: {_shown(value)}")
        elif not math.isfinite(number):
            self.problem(line, "calls", f"not a finite number: {_shown(value)}")
        elif number < 0:
            self.problem(line, "calls", f"negative: {_shown(value)}")
        else:
            return number
        return None

    def _window(self, line: int, record: Mapping[str, object]) -> tuple[datetime, datetime] | None:
        start = self._time(line, "window_start", record.get("window_start"))
        end = self._time(line, "window_end", record.get("window_end"))
        if start is None or end is None:
            return None
        if end <= start:
            self.problem(line, "window_end", f"the window is empty: it ends ({end.isoformat()}) before it starts")
            return None
        return start, end

    def _time(self, line: int, column: str, value: object) -> datetime | None:
        if value is None:
            return None
        try:
            if not isinstance(value, str):
                raise TypeError
            moment = datetime.fromisoformat(value.strip())
        except (TypeError, ValueError):
            self.problem(line, column, f"not an ISO 8601 time such as 2026-11-28T00:00:00Z: {_shown(value)}")
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

    def finish(self, last_line: int) -> UsageTable:
        if not self.started:
            self.problems.append(UsageProblem(last_line, None, "the file has no rows"))
        elif not self.problems and not self.rows:
            self.problems.append(UsageProblem(last_line, None, "the export has no rows after its header"))
        window = self._tiled_window() if not self.problems else None
        if self.problems or window is None:
            raise _invalid(self.problems)
        return UsageTable(self.calls, window, self.rows, self.ignored)

    def _tiled_window(self) -> UsageWindow | None:
        if not self.windowed:
            assert self.window_seconds is not None
            return UsageWindow(self.window_seconds)
        spans = sorted(self.windows)
        for before, after in itertools.pairwise(spans):
            if after[0] != before[1]:
                kind = "leaves a gap with" if after[0] > before[1] else "overlaps"
                later, earlier = sorted((before, after), key=lambda span: -self.windows[span])
                self.problems.append(
                    UsageProblem(
                        self.windows[later],
                        "window_start",
                        f"windows must tile one span: this row's window ({_span(later)}) {kind} the window of "
                        f"line {self.windows[earlier]} ({_span(earlier)})",
                    )
                )
                return None
        first, last = spans[0][0], max(end for _, end in spans)
        return UsageWindow((last - first).total_seconds(), first, last)


def _span(span: tuple[datetime, datetime]) -> str:
    return f"{span[0].isoformat()} to {span[1].isoformat()}"


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
