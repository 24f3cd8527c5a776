"""A whole local pond: embedded AWS and Keeper as separate processes, seeded with the shipped behaviors."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from koipond import envvars
from koipond.behavior_files import load_behavior_dir
from koipond.client.keeper import KeeperApiError, KeeperClient
from koipond.pond.processes import PondProcess, free_port

SHIPPED_BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"


@dataclass
class PondConfig:
    host: str = "127.0.0.1"
    aws_port: int = 0  # 0: pick a free port
    keeper_port: int = 0
    state_dir: Path = Path(".pond")
    admin_token: str = field(default_factory=lambda: f"pond-admin-{secrets.token_hex(16)}")
    poll_interval_seconds: float = 5.0
    behaviors_dir: Path = SHIPPED_BEHAVIORS


class LocalPond:
    """Starts and stops the pond's processes in order; each can be killed and restarted alone."""

    def __init__(self, config: PondConfig) -> None:
        self.config = config
        host = config.host
        self.aws_url = f"http://{host}:{config.aws_port or free_port(host)}"
        self.keeper_url = f"http://{host}:{config.keeper_port or free_port(host)}"
        logs = config.state_dir / "logs"
        self.aws = PondProcess(
            "aws",
            ["aws", "--host", host, "--port", _port(self.aws_url)],
            self._env(),
            logs / "aws.log",
            f"{self.aws_url}/moto-api/data.json",
        )
        self.keeper = PondProcess(
            "keeper",
            ["keeper", "--host", host, "--port", _port(self.keeper_url)],
            self._env(),
            logs / "keeper.log",
            f"{self.keeper_url}/healthz",
        )

    def _env(self) -> dict[str, str]:
        return {
            envvars.AWS_ENDPOINT: getattr(self, "aws_url", ""),
            envvars.ADMIN_TOKEN: self.config.admin_token,
            envvars.POLL_INTERVAL_SECONDS: str(self.config.poll_interval_seconds),
            "POWERTOOLS_SERVICE_NAME": "koipond",
        }

    def start(self) -> None:
        """Start the embedded AWS, then the Keeper; upload the shipped behaviors."""
        self.aws.env = self.keeper.env = self._env()
        self.aws.start(timeout=60)
        self.keeper.start(timeout=60)
        self.seed_behaviors()

    def stop(self) -> None:
        for process in (self.keeper, self.aws):
            process.stop()

    def restart_keeper(self, *, crash: bool = False) -> None:
        """Stop (or kill) the Keeper and start it again: state lives in the embedded AWS only."""
        if crash:
            self.keeper.kill()
        else:
            self.keeper.stop()
        self.keeper.start(timeout=60)

    def client(self, token: str | None = None) -> KeeperClient:
        return KeeperClient(self.keeper_url, token if token is not None else self.config.admin_token)

    def seed_behaviors(self) -> list[str]:
        """Upload each shipped behavior unless a version of it is stored already."""
        seeded = []
        with self.client() as keeper:
            stored = {b["name"] for b in keeper.list_behaviors()}
            for name, document in sorted(load_behavior_dir(self.config.behaviors_dir).items()):
                if name not in stored:
                    keeper.put_behavior(name, document.model_dump(mode="json", exclude_none=True))
                    seeded.append(name)
        return seeded

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
