"""A whole local pond as separate processes: embedded AWS, Keeper, bundled target and Schools."""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from koipond import envvars
from koipond.api.client import KeeperApiError, KeeperClient
from koipond.behavior_files import load_behavior_dir
from local_pond.aws_guard import READY_PATH, AwsKeyPair
from local_pond.processes import PondProcess, free_port
from local_pond.prometheus import prometheus_process, write_config, write_school_targets

SHIPPED_BEHAVIORS = Path(__file__).resolve().parents[1] / "behaviors"
POND_NOTIFICATION_SECRET = "koipond/notifications"  # noqa: S105 - the secret's name, not its value
# The pond's Schools are school-1, school-2, …; their one key is bound to that prefix.
POND_SCHOOL_PREFIX = "school-"
# In a persistent pond's state dir: the admin token, so that a restarted pond lets its user back in.
ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 - a file name
SCHOOL_TOKEN_FILE = "school-token"  # noqa: S105 - a file name


def _secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(16)}"


def stored_admin_token(state_dir: Path) -> str:
    """The admin token kept in ``state_dir/admin-token`` (mode 0600), made and stored on first use."""
    path = state_dir / ADMIN_TOKEN_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if token:
        return token
    token = _secret("pond-admin")
    _write_private(path, token)
    return token


def _write_private(path: Path, token: str) -> None:
    """Write a token to a file only its owner can read (created so: never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token + "\n")


@dataclass
class PondConfig:
    host: str = "127.0.0.1"
    aws_port: int = 0  # 0: pick a free port
    keeper_port: int = 0
    target_port: int = 0
    schools: int = 0
    school_capacity: int = 5000
    # Worker processes per School: 1 (koi in the School's own process) keeps a test pond cheap.
    school_workers: int = 1
    state_dir: Path = Path(".pond")
    # Keep the embedded AWS's state in state_dir/aws and restore it on start (`koipond up`). Off by
    # default: tests and the demo start from an empty pond and never write a state dir of their own.
    persistent: bool = False
    aws_snapshot_seconds: float = 2.0  # seconds between the embedded AWS's snapshots while things change
    admin_token: str = field(default_factory=lambda: _secret("pond-admin"))
    target_admin_token: str = field(default_factory=lambda: _secret("target-admin"))
    target_secret: str = field(default_factory=lambda: _secret("target-secret"))
    with_target: bool = False
    poll_interval_seconds: float = 5.0
    koi_startup_spread_seconds: float = 10.0
    school_env: dict[str, str] = field(default_factory=dict)  # e.g. KOIPOND_FAILSAFE_SECONDS for tests
    with_prometheus: bool = False
    prometheus_port: int = 0
    scrape_seconds: float = 5.0
    guard_every_seconds: float | None = None  # None: no guard process
    tick_every_seconds: float | None = None  # None: no release tick process
    with_token_worker: bool = False
    env: dict[str, str] = field(default_factory=dict)  # extra settings for every component (tests)
    notification_sink_url: str | None = None  # a webhook sink: the pond's notification secret routes to it
    notification_routes: str | None = None  # or the secret's JSON itself (`koipond up --notifications FILE`)
    behaviors_dir: Path = SHIPPED_BEHAVIORS
    # The only key pair the embedded AWS accepts; every component gets it in its environment.
    aws_key_pair: AwsKeyPair = field(default_factory=AwsKeyPair.generate)
    # What components use as their AWS endpoint instead of the embedded AWS's own URL: a fault proxy in
    # front of it (local_pond.fault_proxy), so tests can take DynamoDB or SQS away from the Keeper.
    # The pond itself (readiness, provisioning, aws_client) still talks to the embedded AWS directly.
    aws_via: str | None = None


class LocalPond:
    """Starts and stops the pond's processes in order; each can be killed and restarted alone."""

    def __init__(self, config: PondConfig) -> None:
        self.config = config
        host = config.host
        self.aws_url = f"http://{host}:{config.aws_port or free_port(host)}"
        self.keeper_url = f"http://{host}:{config.keeper_port or free_port(host)}"
        self.target_url = f"http://{host}:{config.target_port or free_port(host)}"
        self.prometheus_url = f"http://{host}:{config.prometheus_port or free_port(host)}"
        self.prometheus_dir = config.state_dir / "prometheus"
        self.logs = config.state_dir / "logs"
        self.aws_state_dir = config.state_dir / "aws"
        state = ["--state-dir", str(config.state_dir)] if config.persistent else ["--ephemeral"]
        state += ["--snapshot-every", f"{config.aws_snapshot_seconds:g}"]
        self.aws = self._process("aws", self.aws_url, READY_PATH, state)
        self.keeper = PondProcess(
            "keeper",
            ["--host", host, "--port", _port(self.keeper_url)],
            self._env(),
            self.logs / "keeper.log",
            f"{self.keeper_url}/healthz",
            # `koipond keeper` without the CLI's imports: a restarted Keeper answers polls sooner.
            program=[sys.executable, "-m", "local_pond.keeper_server"],
        )
        self.target = self._process(
            "target",
            self.target_url,
            "/healthz",
            ["--secret", config.target_secret, "--admin-token", config.target_admin_token],
        )
        self.schools: list[PondProcess] = []
        self.school_metrics_urls: list[str] = []
        self.prometheus: PondProcess | None = None
        self.guard: PondProcess | None = None
        self.token_worker: PondProcess | None = None
        self.tick: PondProcess | None = None
        if config.with_token_worker:
            self.token_worker = PondProcess(
                "token-worker", ["token-worker"], self._env(), self.logs / "token-worker.log", ""
            )
        if config.guard_every_seconds is not None:
            every = ["--every", f"{config.guard_every_seconds:g}s"]
            self.guard = PondProcess("guard", ["guard", *every], self._env(), self.logs / "guard.log", "")
        if config.tick_every_seconds is not None:
            every = ["--every", f"{config.tick_every_seconds:g}s"]
            self.tick = PondProcess("tick", ["tick", *every], self._env(), self.logs / "tick.log", "")

    def _process(self, name: str, url: str, health: str, extra: list[str]) -> PondProcess:
        args = [name, "--host", self.config.host, "--port", _port(url), *extra]
        return PondProcess(name, args, self._env(), self.logs / f"{name}.log", f"{url}{health}")

    def _env(self) -> dict[str, str]:
        prometheus = {envvars.PROMETHEUS_URL: self.prometheus_url} if self.config.with_prometheus else {}
        return {
            **prometheus,
            envvars.AWS_ENDPOINT: self.config.aws_via or self.aws_url,
            envvars.ADMIN_TOKEN: self.config.admin_token,
            # The token worker mints through the bundled target's admin endpoint.
            "KOIPOND_TOKEN_MINT_ADMIN_TOKEN": self.config.target_admin_token,
            envvars.TOKEN_MINT_ORIGINS: self._mint_origins(),
            envvars.POLL_INTERVAL_SECONDS: str(self.config.poll_interval_seconds),
            **({envvars.NOTIFICATION_SECRET: POND_NOTIFICATION_SECRET} if self._routes_notifications else {}),
            "POWERTOOLS_SERVICE_NAME": "koipond",
            **self.config.aws_key_pair.as_env(),
            **self.config.env,
        }

    def _mint_origins(self) -> str:
        """The bundled target, plus origins the shell allows already (a pond minting at a service of yours)."""
        return ",".join(filter(None, (self.target_url, os.environ.get(envvars.TOKEN_MINT_ORIGINS, ""))))

    @property
    def _routes_notifications(self) -> bool:
        return bool(self.config.notification_sink_url or self.config.notification_routes)

    @property
    def runs_target(self) -> bool:
        return self.config.with_target or self.config.schools > 0

    def start(self) -> None:
        """Start the embedded AWS, the Keeper (then upload the shipped behaviors), the target and Schools."""
        self.aws.start(timeout=60)
        if self.config.notification_sink_url:
            self.route_notifications_to(self.config.notification_sink_url)
        elif self.config.notification_routes:
            self._store_notification_routes(json.loads(self.config.notification_routes))
        self.keeper.start(timeout=60)
        self.seed_behaviors()
        if self.runs_target:
            self.target.start(timeout=60)
        if self.config.with_prometheus:
            self._start_prometheus()
        if self.config.schools:
            school_token = self._school_token()
            for number in range(1, self.config.schools + 1):
                self.start_school(f"{POND_SCHOOL_PREFIX}{number}", school_token, self.config.school_env)
        for job in (self.guard, self.token_worker, self.tick):
            if job is not None:
                job.start_unchecked()

    def _school_token(self) -> str:
        """The Schools' one key: a persistent pond reuses the one it stored, so restarts add no keys."""
        path = self.config.state_dir / SCHOOL_TOKEN_FILE
        if self.config.persistent and path.exists():
            token = path.read_text().strip()
            try:
                with self.client(token) as school:
                    if school.whoami().role == "school":
                        return token
            except KeeperApiError:
                pass  # revoked, or of another pond: make a new one
        with self.client() as keeper:
            token = keeper.create_key("pond schools", "school", school_prefix=POND_SCHOOL_PREFIX).token
        if self.config.persistent:
            _write_private(path, token)
        return token

    def _start_prometheus(self) -> None:
        config = write_config(self.prometheus_dir, self.config.scrape_seconds, self.target_url)
        port = int(_port(self.prometheus_url))
        self.prometheus = prometheus_process(
            self.prometheus_dir, self.config.host, port, config, self.logs / "prometheus.log"
        )
        self.prometheus.start(timeout=60)

    def start_school(self, school_id: str, token: str, extra_env: dict[str, str] | None = None) -> PondProcess:
        """Start one School process polling this pond's Keeper."""
        port = free_port(self.config.host)
        env = {
            **(extra_env or {}),
            **self._env(),
            envvars.KEEPER_URL: self.keeper_url,
            envvars.TOKEN: token,
            "KOIPOND_TARGET_ADMIN_TOKEN": self.config.target_admin_token,
            envvars.TOKEN_MINT_ORIGINS: self._mint_origins(),  # the target admin token goes there only
            envvars.TOKEN_BUCKET: "koipond-tokens",
            "KOIPOND_STARTUP_SPREAD_SECONDS": str(self.config.koi_startup_spread_seconds),
            "KOIPOND_METRICS_HOST": self.config.host,
        }
        args = [
            "school",
            "--id",
            school_id,
            "--capacity",
            str(self.config.school_capacity),
            "--metrics-port",
            str(port),
            "--workers",
            str(self.config.school_workers),
        ]
        url = f"http://{self.config.host}:{port}"
        school = PondProcess(school_id, args, env, self.logs / f"{school_id}.log", f"{url}/healthz")
        school.start(timeout=60)
        self.schools.append(school)
        self.school_metrics_urls.append(f"{url}/metrics")
        if self.config.with_prometheus:
            write_school_targets(self.prometheus_dir, self.school_metrics_urls)
        return school

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    @property
    def processes(self) -> list[PondProcess]:
        """Every process started, in start order."""
        started = [
            self.aws,
            self.keeper,
            self.target,
            self.prometheus,
            *self.schools,
            self.guard,
            self.token_worker,
            self.tick,
        ]
        return [p for p in started if p is not None and p.popen is not None]

    def restart_keeper(self, *, crash: bool = False) -> None:
        """Stop (or kill) the Keeper and start it again: state lives in the embedded AWS only."""
        if crash:
            self.keeper.kill()
        else:
            self.keeper.stop()
        self.keeper.start(timeout=60)

    def restart_aws(self, *, crash: bool = False) -> None:
        """Stop (SIGTERM: a last snapshot) or kill -9 the embedded AWS and start it again on the same port.

        A persistent pond's embedded AWS restores its state (see :mod:`local_pond.aws_state`); an
        ephemeral one comes back empty but provisioned. The other processes reach it over HTTP and
        reconnect on their next call; until it answers again their calls fail (the Keeper answers 503).
        """
        if crash:
            self.aws.kill()
        else:
            self.aws.stop()
        self.aws.start(timeout=60)

    def target_faults(self, method: str, fault: dict[str, Any] | None = None) -> httpx.Response:
        """Put (``PUT``), list (``GET``) or clear (``DELETE``) the bundled target's injected faults.

        Raises:
            httpx.HTTPStatusError: the target refused the request (e.g. an invalid fault).
        """
        headers = {"authorization": f"Bearer {self.config.target_admin_token}"}
        response = httpx.request(method, f"{self.target_url}/admin/faults", json=fault, headers=headers, timeout=5)
        return response.raise_for_status()

    def client(self, token: str | None = None) -> KeeperClient:
        return KeeperClient(self.keeper_url, token if token is not None else self.config.admin_token)

    def seed_behaviors(self) -> list[str]:
        """Upload each shipped behavior unless a version of it is stored already."""
        seeded = []
        with self.client() as keeper:
            stored = {b.name for b in keeper.list_behaviors()}
            for name, document in sorted(load_behavior_dir(self.config.behaviors_dir).items()):
                if name not in stored:
                    keeper.put_behavior(name, document.model_dump(mode="json", exclude_none=True))
                    seeded.append(name)
        return seeded

    def route_notifications_to(self, sink_url: str) -> None:
        """Store the notification secret in the embedded AWS, routing every kind to ``sink_url``."""
        from local_pond.aws import sink_notification_config

        self._store_notification_routes(sink_notification_config(sink_url, f"{self.keeper_url}/ui/"))

    def _store_notification_routes(self, routes: dict[str, Any]) -> None:
        from koipond.settings import Settings
        from local_pond.aws import provision_notification_secret

        routes.setdefault("console_url", f"{self.keeper_url}/ui/")
        settings = Settings(aws_endpoint=self.aws_url)
        provision_notification_secret(settings, POND_NOTIFICATION_SECRET, routes, self.aws_client("secretsmanager"))

    def aws_client(self, service: str) -> Any:
        """A boto3 client for the embedded AWS, signed with this pond's key pair (whatever this process's)."""
        import boto3

        from koipond.settings import Settings

        pair = self.config.aws_key_pair
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.aws_url,
            region_name=Settings().aws_region,
            aws_access_key_id=pair.access_key_id,
            aws_secret_access_key=pair.secret_access_key,
        )

    def component_env(self) -> dict[str, str]:
        """What a pond component (Keeper, guard) reads: the embedded AWS, Prometheus, the admin token."""
        return self._env()

    def client_env(self) -> dict[str, str]:
        """What a shell needs for the client verbs."""
        return {envvars.KEEPER_URL: self.keeper_url, envvars.TOKEN: self.config.admin_token}

    def __enter__(self) -> LocalPond:
        try:
            self.start()
        except (RuntimeError, KeeperApiError):
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]
