"""The deploy gate on a local pond: real Prometheus scraping a School that swims against the bundled target,
the release tick judging deploys, and `koipond verify --wait` blocking like a CI job would."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from koipond import envvars
from local_pond.pond import LocalPond
from tests.e2e.conftest import run_cli, watched_pond
from tests.e2e.school_probe import wait_for

SERVICE = "pond-target"
WINDOW = "15s"
# Looser than the defaults: a neutral deploy must pass on a 2-core machine busy with other tests, while
# the injected 400 ms is far beyond every threshold.
SLIS = {
    "matchers": {"pond": "local"},
    "rules": [
        {"kind": "success_rate", "max_drop_points": 2},
        {"kind": "latency_p50", "max_increase_percent": 50, "min_increase_ms": 50},
        {"kind": "latency_p99", "max_increase_percent": 50, "min_increase_ms": 250},
        {"kind": "websocket_lag_p99", "max_increase_percent": 50, "min_increase_ms": 250},
    ],
    "min_calls": 20,
    "min_lag_samples": 10,
}
ADDED_LATENCY_MS = 400
# koi i and i+64 share channels (koipond.workspace.koi_channels): over 64 koi, posts reach others (lag).
KOI = 120


@pytest.fixture(scope="module")
def gated_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    with watched_pond(
        tmp_path_factory.mktemp("deploy-pond"),
        tick_every_seconds=1.0,
        # Judge 3 s after a soak window ends: two 1 s scrapes are in Prometheus by then.
        env={envvars.DEPLOY_SETTLE_SECONDS: "3", envvars.DEPLOY_JUDGE_DEADLINE_SECONDS: "60"},
    ) as pond:
        with pond.client() as admin:
            admin.put_deploy_slis(SERVICE, SLIS)
            test = admin.start_test(name="gated", target=pond.target_url, behavior="busy", workspace="gate", koi=KOI)
        yield pond
        pond.target_faults("DELETE")
        with pond.client() as admin:
            admin.stop_test(test.id, "e2e done")


def calls_in_last_window(pond: LocalPond, method: str | None = None) -> float:
    selector = f'{{method="{method}"}}' if method else ""
    query = f"sum(increase(koi_pond_school_web_api_calls_total{selector}[{WINDOW}]))"
    answer = httpx.get(f"{pond.prometheus_url}/api/v1/query", params={"query": query}, timeout=5).json()
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def verify(pond: LocalPond, build: str, *extra: str) -> tuple[int, str, str]:
    args = ["verify", "--service", SERVICE, "--build", build, "--soak", WINDOW, "--baseline", WINDOW, *extra]
    result = run_cli(pond, *args)
    return result.returncode, result.stdout, result.stderr


def test_a_neutral_deploy_passes_and_added_latency_fails_verify(gated_pond: LocalPond) -> None:
    # A full baseline window of traffic first: every method well above min_calls.
    wait_for("a baseline window of traffic", lambda: calls_in_last_window(gated_pond), lambda n: n > 180, timeout=60)
    # Koi join their channels once, as they start: a baseline holding the start-up's joins would compare
    # conversations.join with a soak window that has none (inconclusive). Judge steady traffic only.
    wait_for(
        "a baseline window past the koi's start-up joins",
        lambda: calls_in_last_window(gated_pond, "conversations.join"),
        lambda joins: joins < SLIS["min_calls"],
        timeout=60,
    )

    code, out, err = verify(gated_pond, "neutral", "--wait", "--poll", "1", "--timeout", "50s")
    assert code == 0, out + err
    assert "verdict: PASS" in out
    assert "latency_p99" in out

    code, out, err = verify(gated_pond, "slow")  # records the deploy at now; the verdict is pending
    assert code == 0, out + err
    assert "status: pending" in out
    gated_pond.target_faults("PUT", {"route": "*", "added_latency_ms": ADDED_LATENCY_MS})

    result = run_cli(gated_pond, "--json", "verify", "--service", SERVICE, "--build", "slow", "--wait",
                     "--poll", "1", "--timeout", "50s")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    deploy = json.loads(result.stdout)
    assert deploy["verdict"]["outcome"] == "fail"
    failing = {(row["kind"], row["method"]) for row in deploy["verdict"]["rows"] if row["ok"] is False}
    assert ("latency_p50", "post") in failing, deploy["verdict"]
    row = next(r for r in deploy["verdict"]["rows"] if (r["kind"], r["method"]) == ("latency_p50", "profile"))
    assert row["delta"] > ADDED_LATENCY_MS / 1000 / 2, row
    with gated_pond.client() as admin:
        # The verdict's event is its notification intent: the tick that judged it expands it a moment later.
        notices = wait_for(
            "both verdicts in the outbox",
            lambda: admin.notifications(kind="deploy_verdict"),
            lambda found: len(found) >= 2,
            timeout=20,
        )
    verdicts = sorted((n.fields["build"], n.fields["outcome"]) for n in notices)
    assert verdicts == [("neutral", "pass"), ("slow", "fail")]
