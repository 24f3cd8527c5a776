"""What ``koipond run`` shows: the live view refreshed each second, the summary table, and the JSON summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from koipond.metric_names import OK_STATUS
from koipond.models.run_stats import ActionStats, LatencySummary, RunStats, requests_per_second
from koipond.models.thresholds import ThresholdResult, all_passed

NOTHING = "-"
MAX_LABEL_WIDTH = 32
_START = RunStats(elapsed_seconds=0.0, koi=0, actions={}, total=ActionStats.empty())  # before the first frame


@dataclass(frozen=True)
class RunHeader:
    """What the run is, as the views name it."""

    behavior: str
    target: str
    koi: int
    duration_seconds: float
    run_id: str
    workspace: str


def seconds_text(seconds: float | None) -> str:
    """A latency for people: ``0.42ms``, ``12ms``, ``1.25s``; ``-`` for none."""
    if seconds is None:
        return NOTHING
    if seconds < 0.001:
        return f"{seconds * 1000:.2f}ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.2f}s"


def clock_text(seconds: float) -> str:
    """``65`` -> ``1:05``; ``3725`` -> ``1:02:05``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def percent_text(rate: float | None) -> str:
    if rate is None:
        return NOTHING
    return "100%" if rate == 1 else f"{rate * 100:.2f}%"


def rate_text(value: float) -> str:
    return f"{value:,.1f}"


def failures_text(stats: ActionStats) -> str:
    """Failed calls by status, most first: ``http_5xx 3, timeout 1``; ``-`` for none."""
    failed = sorted(((n, s) for s, n in stats.statuses.items() if s != OK_STATUS and n), reverse=True)
    return ", ".join(f"{status} {count:,}" for count, status in failed) or NOTHING


def _failures_and_skips(action: ActionStats) -> str:
    """:func:`failures_text`, and how many were skipped (e.g. a reaction with no message to react to yet)."""
    if not action.skipped:
        return failures_text(action)
    failed = failures_text(action)
    skipped = f"{action.skipped:,} skipped"
    return skipped if failed == NOTHING else f"{failed}; {skipped}"


def _result_line(result: ThresholdResult, final: bool) -> Text:
    if final:
        mark, style = ("PASS", "green") if result.passed else ("FAIL", "bold red")
    else:
        mark, style = ("ok", "green") if result.passed else ("failing", "red")
    line = Text()
    line.append(f"{mark:<7} ", style=style)
    line.append(result.threshold.text, style="bold")
    line.append(f"  {result.detail}")
    return line


# --- the live view ----------------------------------------------------------------------------------------


def live_view(
    header: RunHeader, stats: RunStats, previous: RunStats | None, results: Sequence[ThresholdResult]
) -> RenderableType:
    """One frame: koi, time, requests/s in the last second per action and in all, websockets, thresholds."""
    before = previous if previous is not None else _START
    table = _table(("action", "req/s", "requests", "success", "p50", "p99"))
    _shape(table, stats)
    for label, action in stats.actions.items():
        table.add_row(label, *_live_cells(action, requests_per_second(before, stats, label)))
    if table.rows:
        table.rows[-1].end_section = True
    table.add_row("total", *_live_cells(stats.total, requests_per_second(before, stats)), style="bold")
    parts: list[RenderableType] = [Text(_live_title(header, stats), style="bold"), table, Text(_live_websocket(stats))]
    parts.extend(_result_line(r, final=False) for r in results)
    return Group(*parts)


def _table(columns: Sequence[str], title: str | None = None) -> Table:
    """A table with a rule under its header and one space between columns: nine columns fit 80 characters."""
    return Table(*columns, title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=0)


def _shape(table: Table, stats: RunStats, wraps: int | None = None) -> None:
    """Figures right-aligned; action labels never cut (the others give way); column ``wraps`` may fold."""
    for column in table.columns[1:]:
        column.justify = "right"
    action = table.columns[0]
    action.no_wrap = True
    action.min_width = min(MAX_LABEL_WIDTH, max([len("total"), *map(len, stats.actions)]))
    if wraps is not None:
        table.columns[wraps].justify = "left"
        table.columns[wraps].overflow = "fold"


def _live_title(header: RunHeader, stats: RunStats) -> str:
    clock = f"{clock_text(stats.elapsed_seconds)} / {clock_text(header.duration_seconds)}"
    return f"{clock}   koi {stats.koi:,}/{header.koi:,}   {header.behavior} -> {header.target}"


def _live_cells(action: ActionStats, rps: float) -> tuple[str, ...]:
    latency = action.latency
    return (
        rate_text(rps),
        f"{action.requests:,}",
        percent_text(action.success_rate),
        seconds_text(latency.p50),
        seconds_text(latency.p99),
    )


def _live_websocket(stats: RunStats) -> str:
    return (
        f"websockets {stats.ws_open:,} open, event lag p50 {seconds_text(stats.ws_lag.p50)}"
        f" p99 {seconds_text(stats.ws_lag.p99)}   schedule lag p99 {seconds_text(stats.schedule_lag.p99)}"
    )


def progress_line(header: RunHeader, stats: RunStats, previous: RunStats | None) -> str:
    """One line of progress for a log (no terminal): time, koi, requests/s since the last line, success, p99."""
    rps = requests_per_second(previous, stats) if previous is not None else stats.rate()
    return (
        f"[{clock_text(stats.elapsed_seconds)}/{clock_text(header.duration_seconds)}] koi {stats.koi:,}/{header.koi:,}"
        f"  {rate_text(rps)} req/s  success {percent_text(stats.total.success_rate)}"
        f"  p99 {seconds_text(stats.total.latency.p99)}  websockets {stats.ws_open:,}"
    )


# --- the summary ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """The end of a run: its last stats, its thresholds' verdicts, and whether it was stopped before its time."""

    header: RunHeader
    stats: RunStats
    results: Sequence[ThresholdResult]
    stopped_early: bool
    stop_reason: str | None

    @property
    def passed(self) -> bool:
        return all_passed(self.results)


def summary_view(summary: RunSummary) -> RenderableType:
    """The summary as tables: per action, websockets and schedule lag, then each threshold's PASS or FAIL."""
    stats, header = summary.stats, summary.header
    parts: list[RenderableType] = []
    if summary.stopped_early:
        reason = f" ({summary.stop_reason})" if summary.stop_reason else ""
        parts.append(Text(f"stopped early after {stats.elapsed_seconds:.1f} s{reason}", style="yellow"))
    title = f"{header.behavior} -> {header.target}: {header.koi:,} koi for {stats.elapsed_seconds:.1f} s"
    parts.extend([Text(title, style="bold"), _actions_table(stats), _websocket_table(stats)])
    if summary.results:
        parts.append(Text("thresholds", style="bold"))
        parts.extend(_result_line(r, final=True) for r in summary.results)
        parts.append(_verdict(summary.results))
    return Group(*parts)


def _verdict(results: Sequence[ThresholdResult]) -> Text:
    failed = sum(not r.passed for r in results)
    if not failed:
        return Text("all thresholds passed", style="bold green")
    return Text(f"{failed} of {len(results)} thresholds failed", style="bold red")


def _actions_table(stats: RunStats) -> Table:
    columns = ("action", "requests", "req/s", "success", "p50", "p90", "p99", "max", "failures")
    table = _table(columns)
    _shape(table, stats, wraps=8)
    for label, action in stats.actions.items():
        table.add_row(label, *_summary_cells(action, stats.rate(label)))
    if table.rows:
        table.rows[-1].end_section = True
    table.add_row("total", *_summary_cells(stats.total, stats.rate()), style="bold")
    return table


def _summary_cells(action: ActionStats, rps: float) -> tuple[str, ...]:
    latency = action.latency
    return (
        f"{action.requests:,}",
        rate_text(rps),
        percent_text(action.success_rate),
        seconds_text(latency.p50),
        seconds_text(latency.p90),
        seconds_text(latency.p99),
        seconds_text(latency.max),
        _failures_and_skips(action),
    )


def _websocket_table(stats: RunStats) -> Table:
    columns = ("connects", "failed", "dropped", "events", "lag p50", "lag p99", "schedule lag p99")
    table = _table(columns, "websockets (lag: send to receipt), and how late actions started")
    for column in table.columns:
        column.justify = "right"
    table.add_row(
        f"{stats.ws_connects:,}",
        f"{stats.ws_connect_failures:,}",
        f"{stats.ws_disconnects:,}",
        f"{stats.ws_events:,}",
        seconds_text(stats.ws_lag.p50),
        seconds_text(stats.ws_lag.p99),
        seconds_text(stats.schedule_lag.p99),
    )
    return table


# --- JSON -------------------------------------------------------------------------------------------------


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """The summary as one JSON document (seconds as numbers, rates as fractions)."""
    stats, header = summary.stats, summary.header
    return {
        "behavior": header.behavior,
        "target": header.target,
        "run_id": header.run_id,
        "workspace": header.workspace,
        "koi": header.koi,
        "for_seconds": header.duration_seconds,
        "elapsed_seconds": round(stats.elapsed_seconds, 3),
        "stopped_early": summary.stopped_early,
        "stop_reason": summary.stop_reason,
        "actions": {label: _action_json(a, stats.rate(label)) for label, a in stats.actions.items()},
        "total": _action_json(stats.total, stats.rate()),
        "websocket": {
            "connects": stats.ws_connects,
            "connect_failures": stats.ws_connect_failures,
            "disconnects": stats.ws_disconnects,
            "open": stats.ws_open,
            "events": stats.ws_events,
            "lag_seconds": _latency_json(stats.ws_lag),
        },
        "schedule_lag_seconds": _latency_json(stats.schedule_lag),
        "thresholds": [_result_json(r) for r in summary.results],
        "passed": summary.passed,
    }


def _action_json(action: ActionStats, rps: float) -> dict[str, Any]:
    return {
        "requests": action.requests,
        "failures": action.failures,
        "skipped": action.skipped,
        "requests_per_second": round(rps, 3),
        "success_rate": action.success_rate,
        "statuses": dict(action.statuses),
        "latency_seconds": _latency_json(action.latency),
    }


def _latency_json(latency: LatencySummary) -> Mapping[str, Any]:
    return {
        "count": latency.count,
        "p50": latency.p50,
        "p90": latency.p90,
        "p95": latency.p95,
        "p99": latency.p99,
        "max": latency.max,
        "mean": latency.mean,
    }


def _result_json(result: ThresholdResult) -> dict[str, Any]:
    threshold = result.threshold
    return {
        "threshold": threshold.text,
        "action": threshold.action,
        "metric": threshold.metric,
        "op": threshold.op,
        "limit": threshold.limit,
        "observed": result.observed,
        "passed": result.passed,
        "detail": result.detail,
    }
