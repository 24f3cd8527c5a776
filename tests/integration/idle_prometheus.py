"""A real Prometheus with nothing to scrape, for tests of queries that need no data (``time()``, ``vector()``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local_pond.processes import PondProcess, free_port
from local_pond.prometheus import prometheus_process, write_config


@contextmanager
def idle_prometheus(directory: Path) -> Iterator[PondProcess]:
    """Start Prometheus on a free port (its one scrape target never listens); stopped on exit.

    The test may stop it earlier, to see what its callers do when Prometheus is down.
    """
    port = free_port("127.0.0.1")
    config = write_config(directory, 1, f"http://127.0.0.1:{free_port('127.0.0.1')}")
    process = prometheus_process(directory, "127.0.0.1", port, config, directory / "prometheus.log")
    process.start(timeout=60)
    try:
        yield process
    finally:
        process.stop()


def url_of(process: PondProcess) -> str:
    return process.health_url.removesuffix("/-/ready")
