"""``koipond demo``: the main job on a fresh local pond, narrated, checked at every step.

Embedded AWS, Keeper, the bundled Slack-like target, Prometheus, two Schools, the shutdown guard and
the release tick run as separate processes. A test is rolled out in stages to 2,000 koi while live
figures show and each stage posts a Slack notice (to a local webhook sink); a deploy that adds latency
fails the deploy gate; then a partial shutdown, a School killed, the Keeper killed and restarted, the
target degrading until the guard stops the test on its own, the emergency stop, and a clean exit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from koipond import metric_names as mn
from koipond.api.client import KeeperApiError, KeeperClient
from koipond.api.history import EventOut
from koipond_cli.context import wire_time
from koipond_cli.tokens_commands import follow_token_job
from local_pond.live import Figures, Scrape, combine, figures_between, scrape
from local_pond.pond import LocalPond, PondConfig
from local_pond.webhook_sink import WebhookSink

console = Console(highlight=False)
POLL_INTERVAL = 1.0  # seconds; short so that every change shows within the demo
GUARD_EVERY = 2.0
TICK_EVERY = 1.0
KOI = 2000
ROLLOUT = [{"koi": 500, "hold": "5s"}, {"koi": 1000, "hold": "5s"}, {"koi": KOI, "hold": "5s"}]
DEPLOY_WINDOW = "15s"  # baseline before and soak after the deploy; production uses 30 min and 15 min
ADDED_LATENCY_MS = 300
# The demo's guard query: the shipped one watches 5 minutes; the demo cannot wait that long.
DEMO_GUARD_QUERY = {
    "label": "demo-success-rate",
    "query": f"1 - (sum(rate({mn.SCHOOL_WEB_API_CALL_FAILURES_TOTAL}[5s])) or vector(0))"
    f" / sum(rate({mn.SCHOOL_WEB_API_CALLS_TOTAL}[5s]))",
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
    with WebhookSink() as sink:
        config = PondConfig(
            state_dir=state_dir,
            poll_interval_seconds=POLL_INTERVAL,
            schools=2,
            school_capacity=1500,
            koi_startup_spread_seconds=5,
            with_prometheus=True,
            scrape_seconds=1,
            guard_every_seconds=GUARD_EVERY,
            tick_every_seconds=TICK_EVERY,
            with_token_worker=True,
            notification_sink_url=f"{sink.url}/hooks/demo",
            # Judge a deploy 2 s after its soak window (Prometheus scrapes every second here).
            env={"KOIPOND_DEPLOY_SETTLE_SECONDS": "2"},
        )
        pond = LocalPond(config)
        with console.status("starting a local pond: embedded AWS, Keeper, target, Prometheus, 2 Schools, guard..."):
            pond.__enter__()
        try:
            console.print(f"[bold]local pond up[/]: Keeper {pond.keeper_url}, console {pond.keeper_url}/ui/")
            with pond.client() as admin:
                _drive(pond, admin)
                _show_notifications(admin, sink)
        finally:
            with console.status("stopping the pond..."):
                pond.stop()
    console.print(f"[bold green]demo passed in {time.monotonic() - started:.0f}s[/]; the pond is stopped")


def _drive(pond: LocalPond, admin: KeeperClient) -> None:
    _step(f"1. tokens for {KOI:,} users through the pipeline: SQS batches, a worker, encrypted S3 shards")
    job = follow_token_job(admin, admin.create_token_job("pond", pond.target_url, 0, KOI), timeout=120)
    _expect(job.status == "done", f"{job.batches_done} batches minted and stored (SSE-KMS)")

    _step(f"2. a continuous test rolled out to {KOI:,} koi in stages: " + " -> ".join(f"{s['koi']:,}" for s in ROLLOUT))
    test = admin.start_test(
        name="demo average users", target=pond.target_url, behavior="average_user", workspace="pond", koi=KOI
    )
    test_id = test.id
    rollout = admin.start_rollout(test_id, ROLLOUT, reason="demo: ramp up safely")
    console.print(f"  each stage holds {ROLLOUT[0]['hold']} with the guard healthy, then the release tick advances it")
    figures = _watch(pond, 60, until=lambda f: f.koi == KOI and admin.show_rollout(rollout.id).status == "completed")
    _expect(admin.show_rollout(rollout.id).status == "completed", "the rollout went through every stage")
    _expect(figures.koi == KOI, f"{KOI:,} koi swimming across both Schools")
    _expect((figures.success_rate or 0) >= 0.95, f"success rate {100 * (figures.success_rate or 0):.1f}% >= 95%")
    _expect("from s3 shards" in pond.schools[0].log_path.read_text(), "koi took their tokens from the S3 shards")
    _deploy_gate(pond, admin)

    _step("4. partial shutdown: shed 50%")
    admin.update_test(test_id, shed_percent=50, reason="demo: shed half")
    figures = _watch(pond, 8, until=lambda f: f.koi == KOI // 2)
    _expect(figures.koi == KOI // 2, f"{KOI // 2:,} koi left; the other half stopped, the rest untouched")

    _step("5. kill school-2: after 3 missed polls its koi move to school-1")
    pond.schools[1].kill()
    figures = _watch(pond, 10, until=lambda f: f.koi == KOI // 2)
    split = admin.show_test(test_id).koi_per_school
    _expect(split == {"school-1": KOI // 2}, f"all {KOI // 2:,} koi on school-1 ({split})")

    _step("6. kill the Keeper and start it again: Schools keep swimming, nothing is lost")
    before = (admin.show_test(test_id), admin.test_events(test_id))
    pond.restart_keeper(crash=True)
    after = (admin.show_test(test_id), admin.test_events(test_id))
    _expect(before == after, "test, assignments and history identical after the restart")
    figures = _watch(pond, 4)
    _expect(figures.koi == KOI // 2, "koi kept swimming through the Keeper's restart")

    _step("7. the target degrades: the guard stops the test on its own")
    admin.request("PUT", "/v1/guard/queries/demo-success-rate", json=DEMO_GUARD_QUERY)
    pond.target_faults("PUT", {"route": "*", "error_rate": 0.5, "status": 500})
    console.print("  the target now fails half of all calls; guard: success rate < 95% over 15 s stops load")
    _watch(pond, 60, until=lambda f: f.koi == 0)
    pond.target_faults("DELETE")
    stopped = admin.test_events(test_id)[-1]
    _expect(stopped.kind == "test_stopped" and stopped.actor == "guard", "the guard stopped the test")
    console.print(f"  why: {stopped.reason}")
    admin.request("DELETE", "/v1/guard/queries/demo-success-rate")
    admin.resume_test(test_id, "demo: the target recovered")
    figures = _watch(pond, 15, until=lambda f: f.koi == KOI // 2)
    _expect(figures.koi == KOI // 2, "resumed by a person: the guard never restarts load")

    _step("8. pull the emergency stop")
    admin.estop_on("demo: the service under test is on fire")
    # Up to 15 s: a poll interval to learn of it, and a School gives a stopping koi at most 10 s to let go.
    figures = _watch(pond, 15, until=lambda f: f.koi == 0)
    _expect(figures.koi == 0, "every koi stopped within a few poll intervals")
    try:
        admin.start_test(name="during estop", target=pond.target_url, behavior="average_user", workspace="pond", koi=1)
        raise DemoFailedError("a test started while the emergency stop was active")
    except KeeperApiError as exc:
        _expect(exc.status == 409, f"new tests refused: {exc.message}")
    admin.estop_off("demo: all clear")
    _show_history(admin.test_events(test_id), admin.estop_status().history)


def _deploy_gate(pond: LocalPond, admin: KeeperClient) -> None:
    _step(
        f"3. deploy gate: build demo-2 adds {ADDED_LATENCY_MS} ms to every answer; verdict after a {DEPLOY_WINDOW} soak"
    )
    deploy = admin.record_deploy("slack-like", "demo-2", soak=DEPLOY_WINDOW, baseline=DEPLOY_WINDOW)
    pond.target_faults("PUT", {"route": "*", "added_latency_ms": ADDED_LATENCY_MS})
    try:
        _watch(pond, 60, until=lambda _: admin.deploy(deploy.id).status == "judged")
    finally:
        pond.target_faults("DELETE")
    verdict = admin.deploy(deploy.id).verdict
    outcome = None if verdict is None else verdict.outcome
    table = Table("SLI", "method", "before", "after", "threshold", "ok", title=f"verdict: {outcome}")
    for row in [] if verdict is None else verdict.rows:
        if row.ok is False:
            table.add_row(row.kind, row.method or "", _number(row.baseline), _number(row.after),
                          row.threshold, "[red]no[/]")  # fmt: skip
    console.print(table)
    _expect(outcome == "fail", "the gate failed the build: `koipond verify` would exit 1")


def _number(value: float | str | None) -> str:
    return f"{value:.3g}" if isinstance(value, float | int) else str(value)


def _show_notifications(admin: KeeperClient, sink: WebhookSink) -> None:
    _step("9. what people were told: Slack notices, delivered by the release tick")
    kinds = {"rollout_stage_started", "rollout_advanced", "rollout_stage_held", "deploy_verdict",
             "automatic_shutdown", "emergency_stop_on", "emergency_stop_off"}  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_delivered_kinds(sink)) < len(kinds):
        time.sleep(1)
    table = Table("when", "kind", "status", "text", title="notifications (GET /v1/notifications)")
    for n in reversed(admin.notifications(limit=100)):
        if n.route != "workflow":
            continue  # each notice also went to the incoming webhook route: one row per notice is enough
        table.add_row(wire_time(n.created_at)[11:19], n.kind, n.status, n.text[:90])
    console.print(table)
    missing = kinds - _delivered_kinds(sink)
    _expect(not missing, f"the webhook sink received every kind of notice ({len(sink.state.received())} posts)")


def _delivered_kinds(sink: WebhookSink) -> set[str]:
    # Workflow triggers carry the kind as a variable; incoming webhooks (text and blocks) do not.
    return {str(r.body["kind"]) for r in sink.state.received() if isinstance(r.body, dict) and "kind" in r.body}


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


def _show_history(events: list[EventOut], estop_events: list[EventOut]) -> None:
    table = Table("when", "subject", "event", "by", "why", title="history")
    for e in sorted(events + estop_events, key=lambda e: e.at):
        table.add_row(wire_time(e.at)[11:19], e.subject, e.kind, e.actor, e.reason or "")
    console.print(table)
