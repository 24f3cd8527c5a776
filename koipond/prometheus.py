"""Reading Prometheus for the guard: range queries with explicit start/end and a bounded timeout."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Protocol

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from koipond.errors import ConfigurationError
from koipond.models.guard import PrometheusCluster
from koipond.services.guard_evaluation import QueryResult, Sample
from koipond.services.sli_queries import VectorResult, VectorSample


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
                url=cluster.url, headers=headers, auth=auth, disable_ssl=False, timeout=self._timeout
            )
        return self._connections[name]

    def range_query(self, cluster: str, query: str, start: datetime, end: datetime, step_seconds: int) -> QueryResult:
        if cluster not in self._clusters:
            known = ", ".join(sorted(self._clusters)) or "none"
            return QueryResult(error=f"unknown cluster {cluster!r} (configured: {known})")
        try:
            series = self._connect(cluster).custom_query_range(
                query, start_time=start, end_time=end, step=f"{step_seconds}s", timeout=self._timeout
            )
        except (PrometheusApiClientException, requests.RequestException, ValueError) as exc:
            return QueryResult(error=f"Prometheus {cluster} failed: {type(exc).__name__}: {str(exc)[:300]}")
        if len(series) > 1:
            return QueryResult(error=f"query returned {len(series)} series; aggregate it to one (e.g. sum(...))")
        if not series:
            return QueryResult()
        return QueryResult(samples=tuple(Sample(float(t), _number(v)) for t, v in series[0]["values"]))

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


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
