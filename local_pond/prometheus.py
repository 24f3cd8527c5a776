"""The pond's Prometheus: the real server (Debian package), scraping every School and the target."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from local_pond.processes import PondProcess

INSTALL_HINT = "install it with `sudo apt-get install prometheus` (make test does this when run as root)"


def prometheus_binary() -> str:
    """Path of the prometheus server.

    Raises:
        RuntimeError: it is not installed; the message says how to install it.
    """
    found = shutil.which("prometheus")
    if found is None:
        raise RuntimeError(f"the prometheus server is not installed; {INSTALL_HINT}")
    return found


def write_config(directory: Path, scrape_seconds: float, target_url: str) -> Path:
    """A config scraping the target statically and the Schools listed in ``schools.json`` (re-read live)."""
    directory = directory.resolve()  # Prometheus resolves relative paths against the config's folder
    directory.mkdir(parents=True, exist_ok=True)
    interval = f"{max(1, int(scrape_seconds))}s"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": "koipond-target", "static_configs": [{"targets": [target_url.split("://", 1)[1]]}]},
            {
                "job_name": "koipond-schools",
                # Schools come and go while the pond runs; a file Prometheus watches avoids reloads.
                "file_sd_configs": [{"files": [str(directory / "schools.json")], "refresh_interval": "5s"}],
            },
        ],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    if not (directory / "schools.json").exists():
        write_school_targets(directory, [])
    return path


def write_school_targets(directory: Path, metrics_urls: list[str]) -> None:
    """Replace the list of School scrape targets (atomically, so Prometheus never reads half a file)."""
    directory = directory.resolve()
    targets = [url.split("://", 1)[1].removesuffix("/metrics") for url in metrics_urls]
    temporary = directory / "schools.json.tmp"
    temporary.write_text(json.dumps([{"targets": targets, "labels": {"pond": "local"}}]))
    temporary.replace(directory / "schools.json")


def prometheus_process(directory: Path, host: str, port: int, config: Path, log: Path) -> PondProcess:
    args = [
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={host}:{port}",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    return PondProcess("prometheus", args, {}, log, f"http://{host}:{port}/-/ready", program=[prometheus_binary()])
