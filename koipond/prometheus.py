"""Reading Prometheus for the guard: range queries with explicit start/end and a bounded timeout."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from koipond.errors import ConfigurationError
from koipond.models.guard import PrometheusCluster
from koipond.models.prometheus import QueryResult, Sample, VectorResult, VectorSample

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# One quick retry for a blip. The library's default (3 retries, backoff 0+2+4 s) made every guard query and
# every console chart take 6 s to say that a stopped Prometheus is unreachable; the guard's own
# ``on_error.consecutive`` already counts failed runs, so retrying longer within a run buys nothing.
_RETRY = Retry(total=1, backoff_factor=0, status_forcelist=(502, 503, 504), raise_on_status=False)


class PrometheusReader(Protocol):
    def range_query(self, cluster: str, query: str, start: datetime, end: datetime, step_seconds: int) -> QueryResult:
        """Samples of the one series ``query`` yields, or an error saying why there are none."""
        ...


class SigV4Auth(requests.auth.AuthBase):
    """Signs requests for Amazon Managed Prometheus (service ``aps``) with the process's AWS credentials."""

    def __init__(self, region: str) -> None:
        import boto3

        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise ConfigurationError("SigV4 for Prometheus needs AWS credentials and none were found")
        self._region = region
        self._credentials = credentials

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth as BotoSigV4
        from botocore.awsrequest import AWSRequest

        aws_request = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
        )
        BotoSigV4(self._credentials, "aps", self._region).add_auth(aws_request)
        request.headers.update(dict(aws_request.headers))
        return request


class ApiClientPrometheusReader:
    """prometheus-api-client over the configured clusters."""

    def __init__(self, clusters: dict[str, PrometheusCluster], timeout_seconds: float) -> None:
        self._clusters = clusters
        self._timeout = timeout_seconds
        self._connections: dict[str, PrometheusConnect] = {}

    def _connect(self, name: str) -> PrometheusConnect:
        if name not in self._connections:
            cluster = self._clusters[name]
            headers = {"Authorization": f"Bearer {cluster.bearer_token}"} if cluster.bearer_token else None
            auth: Any = None
            if cluster.basic_user is not None:
                auth = (cluster.basic_user, cluster.basic_password)
            elif cluster.sigv4_region:
                auth = SigV4Auth(cluster.sigv4_region)
            self._connections[name] = PrometheusConnect(
                url=cluster.url, headers=headers, auth=auth, disable_ssl=False, timeout=self._timeout, retry=_RETRY
            )
        return self._connections[name]

    def range_query(self, cluster: str, query: str, start: datetime, end: datetime, step_seconds: int) -> QueryResult:
        if cluster not in self._clusters:
            known = ", ".join(sorted(self._clusters)) or "none"
            return QueryResult(error=f"unknown cluster {cluster!r} (configured: {known})")
        # prometheus-api-client rounds start and end to whole seconds; a start rounded down puts the first
        # sample before the guard's window (issue 15). Its params override its own, so ours go to the
        # millisecond, Prometheus' resolution: a driver whose window ends on a millisecond gets a sample
        # exactly on the window's start.
        exact = {"start": unix_millis(start), "end": unix_millis(end)}
        try:
            series = self._connect(cluster).custom_query_range(
                query, start_time=start, end_time=end, step=f"{step_seconds}s", params=exact, timeout=self._timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            return QueryResult(error=self._unreachable(cluster, exc), unreachable=True)
        except (PrometheusApiClientException, requests.RequestException, ValueError) as exc:
            return QueryResult(error=f"Prometheus {cluster} failed: {type(exc).__name__}: {str(exc)[:300]}")
        if len(series) > 1:
            return QueryResult(error=f"query returned {len(series)} series; aggregate it to one (e.g. sum(...))")
        if not series:
            return QueryResult()
        return QueryResult(samples=tuple(Sample(float(t), _number(v)) for t, v in series[0]["values"]))

    def _unreachable(self, cluster: str, exc: requests.RequestException) -> str:
        """One plain sentence for "nobody answered", instead of urllib3's nested retry message."""
        if isinstance(exc, requests.Timeout):
            return f"Prometheus {cluster} is unreachable: no answer within {self._timeout:g}s"
        reason = getattr(exc.args[0], "reason", exc.args[0]) if exc.args else exc
        # urllib3 puts the socket's own words last: "...: Failed to establish ...: [Errno 111] Connection refused"
        return f"Prometheus {cluster} is unreachable: {str(reason).rsplit(': ', 1)[-1][:200]}"

    def instant_vector(self, cluster: str, query: str, at: datetime) -> VectorResult:
        """Every series ``query`` yields evaluated at ``at`` (labels and value), or an error saying why not."""
        if cluster not in self._clusters:
            known = ", ".join(sorted(self._clusters)) or "none"
            return VectorResult(error=f"unknown cluster {cluster!r} (configured: {known})")
        try:
            series = self._connect(cluster).custom_query(
                query, params={"time": f"{at.timestamp():.3f}"}, timeout=self._timeout
            )
        except (PrometheusApiClientException, requests.RequestException, ValueError, KeyError) as exc:
            return VectorResult(error=f"Prometheus {cluster} failed: {type(exc).__name__}: {str(exc)[:300]}")
        try:
            found = tuple(VectorSample(dict(s.get("metric", {})), _number(s["value"][1])) for s in series)
        except (KeyError, IndexError, TypeError, AttributeError):
            return VectorResult(error=f"Prometheus {cluster} answered a query with something other than a vector")
        return VectorResult(series=found)


def unix_millis(at: datetime) -> str:
    """``at`` as Unix seconds with exactly three decimals, from its integer microseconds (no float rounding)."""
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    seconds, millis = divmod(micros // 1000, 1000)
    return f"{seconds}.{millis:03d}"


def truncate_to_millis(at: datetime) -> datetime:
    """``at`` without its sub-millisecond part, so a window ending on it starts on a Prometheus timestamp."""
    return at.replace(microsecond=at.microsecond - at.microsecond % 1000)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
