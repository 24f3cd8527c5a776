"""What ``koipond run`` shows: the live frame, the summary tables and the JSON summary."""

from __future__ import annotations

import json

import pytest
from rich.console import Console, RenderableType

from koipond.models.latency_digest import LatencyDigest
from koipond.models.run_stats import ActionStats, LatencySummary, RunStats
from koipond.models.thresholds import evaluate, parse_thresholds
from koipond_cli.run_view import (
    RunHeader,
    RunSummary,
    clock_text,
    failures_text,
    live_view,
    progress_line,
    seconds_text,
    summary_json,
    summary_view,
)

HEADER = RunHeader("fast.yaml", "http://127.0.0.1:8800", koi=20, duration_seconds=60, run_id="r1", workspace="T-run")


def digest(*seconds: float) -> LatencyDigest:
    d = LatencyDigest()
    for s in seconds:
        d.record(s)
    return d


def stats(elapsed: float, post: dict[str, int], read: dict[str, int], **extra: object) -> RunStats:
    post_stats = ActionStats.of(post, digest(*[0.010] * sum(post.values())))
    read_stats = ActionStats.of(read, digest(*[0.002] * sum(read.values())))
    totals = {k: post.get(k, 0) + read.get(k, 0) for k in {*post, *read}}
    total = ActionStats.of(totals, digest(*[0.010] * sum(post.values()), *[0.002] * sum(read.values())))
    fields: dict[str, object] = {"ws_connects": 20, "ws_open": 19, "ws_events": 40}
    fields.update(extra)
    return RunStats(elapsed, 20, {"post": post_stats, "read": read_stats}, total, **fields)  # type: ignore[arg-type]


def text_of(renderable: RenderableType, width: int = 120) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0.0004, "0.40ms"), (0.012, "12ms"), (0.9994, "999ms"), (1.25, "1.25s"), (42.0, "42.00s")],
)
def test_latencies_read_in_the_unit_people_use(seconds: float | None, shown: str) -> None:
    assert seconds_text(seconds) == shown


def test_clock_reads_minutes_and_hours() -> None:
    assert (clock_text(5), clock_text(65), clock_text(3725)) == ("0:05", "1:05", "1:02:05")


def test_failures_are_listed_by_status_most_first() -> None:
    action = ActionStats.of({"ok": 5, "timeout": 1, "http_5xx": 3}, digest(0.1))
    assert failures_text(action) == "http_5xx 3, timeout 1"
    assert failures_text(ActionStats.of({"ok": 2}, digest(0.1))) == "-"


def test_the_live_frame_shows_last_second_rates_koi_time_websockets_and_thresholds() -> None:
    before = stats(9.0, {"ok": 10}, {"ok": 100})
    now = stats(10.0, {"ok": 15}, {"ok": 130}, ws_lag=LatencySummary.of(digest(0.003, 0.009)))
    checks = parse_thresholds(["p99<1ms", "success_rate>=0.99"])
    shown = text_of(live_view(HEADER, now, before, evaluate(checks, now)))
    assert "0:10 / 1:00" in shown
    assert "koi 20/20" in shown
    post_row = next(line for line in shown.splitlines() if line.lstrip().startswith("post"))
    assert "5.0" in post_row  # 5 calls in the last second
    total_row = next(line for line in shown.splitlines() if line.lstrip().startswith("total"))
    assert "35.0" in total_row
    assert "websockets 19 open" in shown
    assert "event lag p50 3ms p99 9ms" in shown
    assert "failing p99<1ms" in shown
    assert "ok      success_rate>=0.99" in shown


def test_the_first_live_frame_counts_rates_from_the_start() -> None:
    first = stats(1.0, {"ok": 3}, {"ok": 4})
    total_row = next(line for line in text_of(live_view(HEADER, first, None, [])).splitlines() if "total" in line)
    assert "7.0" in total_row


def test_the_summary_names_each_threshold_and_how_far_a_failed_one_missed() -> None:
    final = stats(60.0, {"ok": 590, "http_5xx": 10}, {"ok": 1200})
    results = evaluate(parse_thresholds(["p99<5ms", "success_rate>=0.99"]), final)
    shown = text_of(summary_view(RunSummary(HEADER, final, results, stopped_early=False, stop_reason=None)))
    assert "fast.yaml -> http://127.0.0.1:8800: 20 koi for 60.0 s" in shown
    assert "http_5xx 10" in shown
    assert "FAIL    p99<5ms" in shown
    assert "over the limit of 5 ms" in shown
    assert "PASS    success_rate>=0.99" in shown
    assert "1 of 2 thresholds failed" in shown
    assert "stopped early" not in shown


def test_skipped_actions_show_beside_the_failures() -> None:
    final = stats(60.0, {"ok": 1}, {"ok": 1})
    react = ActionStats.of({}, digest(), skipped=4)
    final = RunStats(60.0, 20, {**final.actions, "react": react}, final.total)
    row = next(
        line
        for line in text_of(summary_view(RunSummary(HEADER, final, [], False, None))).splitlines()
        if line.startswith("react")
    )
    assert row.rstrip().endswith(" 4 skipped")


def test_a_run_stopped_early_says_so_and_after_how_long() -> None:
    final = stats(4.2, {"ok": 1}, {"ok": 1})
    summary = RunSummary(HEADER, final, [], stopped_early=True, stop_reason="SIGINT")
    assert "stopped early after 4.2 s (SIGINT)" in text_of(summary_view(summary))
    assert summary.passed


def test_the_summary_fits_an_80_column_terminal_without_cutting_labels() -> None:
    final = stats(60.0, {"ok": 590, "http_5xx": 10, "timeout": 2}, {"ok": 1200})
    shown = text_of(summary_view(RunSummary(HEADER, final, [], False, None)), width=80)
    assert all(len(line) <= 80 for line in shown.splitlines())
    assert "…" not in shown


def test_the_json_summary_is_one_document_with_every_figure() -> None:
    final = stats(10.0, {"ok": 9, "timeout": 1}, {"ok": 20}, ws_lag=LatencySummary.of(digest(0.004)))
    results = evaluate(parse_thresholds(["post:p99<1ms"]), final)
    document = json.loads(json.dumps(summary_json(RunSummary(HEADER, final, results, True, "SIGTERM"))))
    assert document["koi"] == 20
    assert document["stopped_early"] is True
    assert document["stop_reason"] == "SIGTERM"
    post = document["actions"]["post"]
    assert (post["requests"], post["failures"], post["statuses"]) == (10, 1, {"ok": 9, "timeout": 1})
    assert post["requests_per_second"] == 1.0
    assert post["success_rate"] == 0.9
    assert post["latency_seconds"]["p99"] == pytest.approx(0.010)
    assert document["total"]["requests"] == 30
    assert document["websocket"]["connects"] == 20
    assert document["websocket"]["lag_seconds"]["max"] == pytest.approx(0.004)
    [threshold] = document["thresholds"]
    assert threshold["threshold"] == "post:p99<1ms"
    assert threshold["action"] == "post"
    assert threshold["passed"] is False
    assert "over the limit" in threshold["detail"]
    assert document["passed"] is False


def test_a_progress_line_for_logs_says_time_koi_rate_and_success() -> None:
    before = stats(10.0, {"ok": 10}, {"ok": 10})
    now = stats(20.0, {"ok": 60}, {"ok": 60}, ws_open=20)
    line = progress_line(HEADER, now, before)
    assert line.startswith("[0:20/1:00] koi 20/20")
    assert "10.0 req/s" in line
    assert "success 100%" in line
