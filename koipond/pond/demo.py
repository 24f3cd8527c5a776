"""``koipond demo``: the main job on a fresh local pond, narrated, checked at every step.

Embedded AWS, Keeper, the bundled Slack-like target, Prometheus, two Schools and the shutdown guard
run as separate processes. A 2,000-koi test swims against the target while live figures show; then a
partial shutdown, a School killed, the Keeper killed and restarted, the target degrading until the
guard stops the test on its own, the emergency stop, and a clean exit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from koipond.cli.tokens_commands import follow_token_job
from koipond.client.keeper import KeeperApiError, KeeperClient
from koipond.pond.live import Figures, Scrape, combine, figures_between, scrape
from koipond.pond.pond import LocalPond, PondConfig

console = Console(highlight=False)
POLL_INTERVAL = 1.0  # seconds; short so that every change shows within the demo
GUARD_EVERY = 2.0
KOI = 2000
# The demo's guard query: the shipped one watches 5 minutes; the demo cannot wait that long.
DEMO_GUARD_QUERY = {
    "label": "demo-success-rate",
    "query": "1 - (sum(rate(koi_pond_school_web_api_call_failures_total[5s])) or vector(0))"
    " / sum(rate(koi_pond_school_web_api_calls_total[5s]))",
    "time_range": "15s",
    "step": "1s",
    "threshold": 0.95,
    "comparator": "LessThan",
}


class DemoFailedError(Exception):
    """A step did not do what it should; the demo exits non-zero."""


def run_demo(state_dir: Path) -> None:
    """Run the demo on a fresh pond and stop it.

    Raises:
        DemoFailedError: a step's outcome was not the expected one.
    """
    started = time.monotonic()
    config = PondConfig(
        state_dir=state_dir,
        poll_interval_seconds=POLL_INTERVAL,
        schools=2,
        school_capacity=1500,
        koi_startup_spread_seconds=5,
        with_prometheus=True,
        scrape_seconds=1,
        guard_every_seconds=GUARD_EVERY,
        with_token_worker=True,
    )
    pond = LocalPond(config)
    with console.status("starting a local pond: embedded AWS, Keeper, target, Prometheus, 2 Schools, guard..."):
        pond.__enter__()
    try:
        console.print(f"[bold]local pond up[/]: Keeper {pond.keeper_url}, target {pond.target_url}")
        with pond.client() as admin:
            _drive(pond, admin)
    finally:
        with console.status("stopping the pond..."):
            pond.stop()
    console.print(f"[bold green]demo passed in {time.monotonic() - started:.0f}s[/]; the pond is stopped")


def _drive(pond: LocalPond, admin: KeeperClient) -> None:
    _step(f"1. tokens for {KOI:,} users through the pipeline: SQS batches, a worker, encrypted S3 shards")
    job = follow_token_job(admin, admin.create_token_job("pond", pond.target_url, 0, KOI), timeout=120)
    _expect(job["status"] == "done", f"{job['batches_done']} batches minted and stored (SSE-KMS)")

    _step(f"2. a continuous test of {KOI:,} koi (average_user) against the bundled target")
    test = admin.start_test(
        name="demo average users", target=pond.target_url, behavior="average_user", workspace="pond", koi=KOI
    )
    test_id = test["id"]
    figures = _watch(pond, 20, until=lambda f: f.koi == KOI and f.requests_per_second > 0)
    _expect(figures.koi == KOI, f"{KOI:,} koi swimming across both Schools")
    _expect((figures.success_rate or 0) >= 0.95, f"success rate {100 * (figures.success_rate or 0):.1f}% >= 95%")
    _expect("from s3 shards" in pond.schools[0].log_path.read_text(), "koi took their tokens from the S3 shards")

    _step("3. partial shutdown: shed 50%")
    admin.update_test(test_id, shed_percent=50, reason="demo: shed half")
    figures = _watch(pond, 8, until=lambda f: f.koi == KOI // 2)
    _expect(figures.koi == KOI // 2, f"{KOI // 2:,} koi left; the other half stopped, the rest untouched")

    _step("4. kill school-2: after 3 missed polls its koi move to school-1")
    pond.schools[1].kill()
    figures = _watch(pond, 10, until=lambda f: f.koi == KOI // 2)
    split = admin.show_test(test_id)["koi_per_school"]
    _expect(split == {"school-1": KOI // 2}, f"all {KOI // 2:,} koi on school-1 ({split})")

    _step("5. kill the Keeper and start it again: Schools keep swimming, nothing is lost")
    before = (admin.show_test(test_id), admin.test_events(test_id))
    pond.restart_keeper(crash=True)
    after = (admin.show_test(test_id), admin.test_events(test_id))
    _expect(before == after, "test, assignments and history identical after the restart")
    figures = _watch(pond, 4)
    _expect(figures.koi == KOI // 2, "koi kept swimming through the Keeper's restart")

    _step("6. the target degrades: the guard stops the test on its own")
    admin.request("PUT", "/v1/guard/queries/demo-success-rate", json=DEMO_GUARD_QUERY)
    pond.target_faults("PUT", {"route": "*", "error_rate": 0.5, "status": 500})
    console.print("  the target now fails half of all calls; guard: success rate < 95% over 15 s stops load")
    _watch(pond, 60, until=lambda f: f.koi == 0)
    pond.target_faults("DELETE")
    stopped = admin.test_events(test_id)[-1]
    _expect(stopped["kind"] == "test_stopped" and stopped["actor"] == "guard", "the guard stopped the test")
    console.print(f"  why: {stopped['reason']}")
    admin.request("DELETE", "/v1/guard/queries/demo-success-rate")
    admin.resume_test(test_id, "demo: the target recovered")
    figures = _watch(pond, 15, until=lambda f: f.koi == KOI // 2)
    _expect(figures.koi == KOI // 2, "resumed by a person: the guard never restarts load")

    _step("7. pull the emergency stop")
    admin.estop_on("demo: the service under test is on fire")
    figures = _watch(pond, 8, until=lambda f: f.koi == 0)
    _expect(figures.koi == 0, "every koi stopped within a few poll intervals")
    try:
        admin.start_test(name="during estop", target=pond.target_url, behavior="average_user", workspace="pond", koi=1)
        raise DemoFailedError("a test started while the emergency stop was active")
    except KeeperApiError as exc:
        _expect(exc.status == 409, f"new tests refused: {exc.message}")
    admin.estop_off("demo: all clear")
    _show_history(admin.test_events(test_id), admin.estop_status()["history"])


def _watch(pond: LocalPond, seconds: float, until: Callable[[Figures], bool] | None = None) -> Figures:
    """Show live figures per School for up to ``seconds`` (at least 3 s, or until ``until`` holds)."""
    urls = dict(zip([s.name for s in pond.schools], pond.school_metrics_urls, strict=True))
    previous: dict[str, Scrape] = {}
    started = time.monotonic()
    latest = Figures(0, 0.0, None, None, None, 0.0, 0)
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            now = time.monotonic()
            current = {name: s for name, url in urls.items() if (s := scrape(url, now)) is not None}
            rows = {name: figures_between(previous[name], s) for name, s in current.items() if name in previous}
            if previous and current:
                before = combine([previous[n] for n in current if n in previous], previous_at(previous))
                latest = figures_between(before, combine([current[n] for n in current if n in previous], now))
                live.update(_table(rows, latest, now - started))
            previous = current
            elapsed = time.monotonic() - started
            if elapsed >= seconds or (elapsed >= 3 and until is not None and until(latest)):
                return latest
            time.sleep(1.0)


def previous_at(scrapes: dict[str, Scrape]) -> float:
    return min(s.at for s in scrapes.values())


def _table(rows: dict[str, Figures], total: Figures, elapsed: float) -> Table:
    table = Table(
        "School", "koi", "req/s", "success", "p50", "p99", "ws events/s", "websockets", title=f"live, {elapsed:.0f}s"
    )
    for name, f in sorted(rows.items()):
        table.add_row(name, *_cells(f))
    table.add_row("[bold]all[/]", *_cells(total))
    return table


def _cells(f: Figures) -> list[str]:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    success = "-" if f.success_rate is None else f"{100 * f.success_rate:.1f}%"
    return [f"{f.koi:,}", f"{f.requests_per_second:,.0f}", success, ms(f.p50_seconds), ms(f.p99_seconds),
            f"{f.ws_events_per_second:,.0f}", f"{f.ws_connections:,}"]  # fmt: skip


def _step(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailedError(f"expected: {what}")
    console.print(f"  [green]ok[/] {what}")


def _show_history(events: list[dict[str, Any]], estop_events: list[dict[str, Any]]) -> None:
    table = Table("when", "subject", "event", "by", "why", title="history")
    for e in sorted(events + estop_events, key=lambda e: e["at"]):
        table.add_row(e["at"][11:19], e["subject"], e["kind"], e["actor"], e["reason"] or "")
    console.print(table)
