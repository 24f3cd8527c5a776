"""GET /v1/metrics/{series}: bounded, authenticated chart data from Prometheus (a local fake of its HTTP API)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from koipond.settings import Settings
from local_pond.processes import free_port
from tests.conftest import ADMIN_TOKEN, Api, issue_token


class FakePrometheus(ThreadingHTTPServer):
    """Answers /api/v1/query_range with ``matrix`` and records what it was asked."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _PrometheusHandler)
        self.matrix: list[dict[str, Any]] = []
        self.asked: list[dict[str, list[str]]] = []


class _PrometheusHandler(BaseHTTPRequestHandler):
    server: FakePrometheus

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        params = parse_qs(parts.query) | parse_qs(self.rfile.read(length).decode() if length else "")
        self.server.asked.append(params)
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": self.server.matrix}})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def settings(prometheus: FakePrometheus) -> Settings:
    host, port = prometheus.server_address[:2]
    return Settings(
        admin_token=ADMIN_TOKEN,
        table_name="koipond-test",
        prometheus_url=f"http://{host!s}:{port}",
        guard_timeout_seconds=2,
    )


def test_a_series_comes_back_as_points_with_gaps_for_unknown_values(api: Api, prometheus: FakePrometheus) -> None:
    prometheus.matrix = [{"metric": {}, "values": [[1000, "0.99"], [1010, "NaN"], [1020, "1"]]}]
    prometheus.asked.clear()
    response = api.get("/v1/metrics/success_rate?range=15m")
    assert response.status == 200, response.body
    assert response.body["points"] == [[1000.0, 0.99], [1010.0, None], [1020.0, 1.0]]
    assert response.body["unit"] == "ratio"
    assert prometheus.asked[0]["query"] == [response.body["query"]]
    assert prometheus.asked[0]["step"] == [f"{response.body['step_seconds']}s"]


def test_no_data_is_an_empty_series(api: Api, prometheus: FakePrometheus) -> None:
    prometheus.matrix = []
    response = api.get("/v1/metrics/latency_p99")
    assert response.status == 200
    assert response.body["points"] == []


def test_the_step_is_raised_so_a_day_has_at_most_500_points(api: Api, prometheus: FakePrometheus) -> None:
    prometheus.matrix = []
    response = api.get("/v1/metrics/koi?range=24h&step=1s")
    assert response.status == 200
    assert 86400 // response.body["step_seconds"] + 1 <= 500


def test_the_koi_series_can_be_narrowed_to_one_stored_test(api: Api, prometheus: FakePrometheus) -> None:
    from tests.conftest import new_test_body

    test_id = api.post("/v1/tests", new_test_body()).body["id"]
    prometheus.matrix = [{"metric": {}, "values": [[1000, "12"]]}]
    prometheus.asked.clear()
    response = api.get(f"/v1/metrics/koi?test={test_id}")
    assert response.status == 200
    assert f'test="{test_id}"' in prometheus.asked[0]["query"][0]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("/v1/metrics/up", 400, "bad_request"),
        ("/v1/metrics/koi?range=25h", 400, "bad_request"),
        ("/v1/metrics/koi?range=soon", 400, "bad_request"),
        ("/v1/metrics/koi?range=1h&step=2h", 400, "bad_request"),
        ('/v1/metrics/koi?test=lt-1"})or(vector(1', 400, "bad_request"),
        ("/v1/metrics/latency_p50?test=lt-0123456789", 400, "bad_request"),
        ("/v1/metrics/koi?test=lt-0123456789", 404, "not_found"),
        ("/v1/metrics/Koi%7D", 422, "validation_failed"),
    ],
)
def test_bad_chart_requests_get_a_clear_4xx(api: Api, query: str, status: int, code: str) -> None:
    response = api.get(query)
    assert (response.status, response.error_code) == (status, code), response.body
    assert response.body["error"]["message"]


def test_charts_need_a_token(api: Api) -> None:
    response = api.as_(None).get("/v1/metrics/koi")
    assert (response.status, response.error_code) == (401, "unauthenticated")


def test_a_viewer_may_read_charts(api: Api, prometheus: FakePrometheus) -> None:
    prometheus.matrix = []
    viewer = api.as_(issue_token(api, "viewer"))
    assert viewer.get("/v1/metrics/websocket_lag_p99").status == 200


def test_a_school_token_may_not_read_charts(api: Api) -> None:
    school = api.as_(issue_token(api, "school"))
    assert school.get("/v1/metrics/koi").status == 403


class TestPrometheusDown:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(
            admin_token=ADMIN_TOKEN,
            table_name="koipond-test",
            prometheus_url=f"http://127.0.0.1:{free_port('127.0.0.1')}",
            guard_timeout_seconds=2,
        )

    def test_an_unreachable_prometheus_is_a_503_saying_so(self, api: Api) -> None:
        response = api.get("/v1/metrics/koi")
        assert (response.status, response.error_code) == (503, "metrics_unavailable")
        assert "Prometheus" in response.body["error"]["message"]


class TestNoPrometheusConfigured:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(admin_token=ADMIN_TOKEN, table_name="koipond-test")

    def test_charts_without_a_prometheus_are_a_503_naming_the_setting(self, api: Api) -> None:
        response = api.get("/v1/metrics/success_rate")
        assert (response.status, response.error_code) == (503, "metrics_unavailable")
        assert "KOIPOND_PROMETHEUS_URL" in response.body["error"]["message"]
