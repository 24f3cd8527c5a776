"""``koipond behaviors derive --prometheus``: a real Prometheus scraping a tiny exporter standing in for a service."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from koipond.behavior_files import load_behavior_file
from koipond.models.guard import PrometheusCluster
from koipond.prometheus import ApiClientPrometheusReader
from koipond_cli.main import cli
from local_pond.processes import free_port
from local_pond.prometheus import prometheus_process, write_config

BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"
REQUESTS_PER_SECOND = {"chat.postMessage": 40.0, "users.info": 100.0, "files.upload": 2.0}
ACTIVE_USERS = 36_000
WINDOW = "5s"  # scraped every second: a window of five samples
RATE_QUERY = "sum by (method) (rate(api_requests_total[$window]))"


class _Exporter(BaseHTTPRequestHandler):
    """The service's metrics: request counters growing at fixed rates, and its active users."""

    started = time.time()

    def do_GET(self) -> None:
        elapsed = time.time() - self.started
        lines = ["# TYPE api_requests_total counter"]
        lines += [f'api_requests_total{{method="{m}"}} {rate * elapsed:.3f}' for m, rate in REQUESTS_PER_SECOND.items()]
        lines += ["# TYPE active_users gauge", f"active_users {ACTIVE_USERS}"]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    directory = tmp_path_factory.mktemp("prometheus")
    config = write_config(directory, 1, f"http://127.0.0.1:{exporter.server_address[1]}")
    port = free_port("127.0.0.1")
    process = prometheus_process(directory, "127.0.0.1", port, config, directory / "prometheus.log")
    process.start(timeout=60)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_rates(url)
        yield url
    finally:
        process.stop()
        exporter.shutdown()


def _wait_for_rates(url: str) -> None:
    """Until a whole window of scrapes is in: rate() over a window only partly filled extrapolates too little."""
    reader = ApiClientPrometheusReader({"p": PrometheusCluster(url=url)}, timeout_seconds=5)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = reader.instant_vector("p", f"count_over_time(active_users[{WINDOW}])", datetime.now(UTC))
        if result.series and result.series[0].value >= 5:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never held {WINDOW} of scrapes of the exporter")


def test_derive_turns_per_method_rates_and_active_users_into_per_koi_rates(prometheus_url: str, tmp_path: Path) -> None:
    out = tmp_path / "derived.yaml"
    args = ["behaviors", "derive", "--prometheus", prometheus_url, "--query", RATE_QUERY, "--window", WINDOW,
            "--users-query", "max(active_users)", "--base", str(BEHAVIORS / "average_user.yaml"),
            "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    document = load_behavior_file(out)
    # 40 requests/s x 3,600 s / 36,000 users = 4 calls per user per hour; 100/s -> 10.
    assert document.actions["post_message"].rate_per_hour == pytest.approx(4.0, rel=0.05)
    assert document.actions["user_info"].rate_per_hour == pytest.approx(10.0, rel=0.05)
    text = out.read_text()
    assert f"# source: Prometheus {prometheus_url}, rate query 'sum by (method) (rate(api_requests_total[5s]))'" in text
    assert "# window: 5s, as $window in the queries" in text
    assert (
        "unmapped method files.upload: 0.2" in text or "unmapped method files.upload: 0.19" in text
    )  # 2/s x 3,600 / 36,000
    assert "unmapped method files.upload" in result.stderr


def test_a_rate_query_without_the_method_label_is_refused_naming_it(prometheus_url: str) -> None:
    args = ["behaviors", "derive", "--prometheus", prometheus_url, "--query", "sum(rate(api_requests_total[10s]))",
            "--users", "100", "--base", str(BEHAVIORS / "average_user.yaml")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "has no label 'method'" in result.stderr


def test_an_unreachable_prometheus_exits_1() -> None:
    url = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    args = ["behaviors", "derive", "--prometheus", url, "--query", "q", "--users", "1",
            "--base", str(BEHAVIORS / "average_user.yaml")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert f"Prometheus {url} failed" in result.stderr
    assert "Connection refused" in result.stderr
