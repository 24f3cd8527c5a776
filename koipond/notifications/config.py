"""Which notification kinds go to which Slack webhook: JSON kept in a Secrets Manager secret, validated.

Webhook URLs are credentials (anyone holding one may post), so they live only in the secret and in
memory: never in the table, the log, an error message or an API answer.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from koipond.errors import ConfigurationError
from koipond.notifications.kinds import NotificationKind
from koipond.notifications.quiet_logs import quiet_library_logs


class NotificationConfigError(ConfigurationError):
    """The notification secret is missing, unreadable or invalid (the message never holds a URL)."""

    code = "notification_config_invalid"


def _check_webhook_url(value: SecretStr) -> SecretStr:
    parts = urlsplit(value.get_secret_value())
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return value  # a local webhook sink (the pond, tests)
    # Says what is wrong without repeating the value: the URL is a credential.
    raise ValueError("must be an https:// URL (http:// only for a loopback address)")


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Route(BaseModel):
    """One webhook and the kinds it receives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Shown in the outbox instead of the URL.")
    type: Literal["workflow", "incoming"] = Field(
        description="workflow: a Workflow Builder webhook trigger; incoming: an incoming webhook (text/blocks)."
    )
    url: SecretStr
    kinds: list[NotificationKind] = Field(min_length=1)

    _url_ok = field_validator("url")(_check_webhook_url)


class NotificationConfig(BaseModel):
    """The secret's JSON: routes, plus the links every rollout notice reminds people of."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: list[Route] = Field(default_factory=list, max_length=20)
    dashboard_url: str | None = Field(default=None, max_length=500)
    console_url: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _unique_names(self) -> NotificationConfig:
        names = [r.name for r in self.routes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"route names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def routes_for(self, kind: NotificationKind) -> list[Route]:
        return [r for r in self.routes if kind in r.kinds]

    def route(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)


def parse_config(text: str) -> NotificationConfig:
    """Validate the secret's JSON.

    Raises:
        NotificationConfigError: naming each bad field and the problem, never echoing values.
    """
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotificationConfigError(
            f"notification secret is not JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    try:
        return NotificationConfig.model_validate(document)
    except ValidationError as exc:
        problems = [
            {"path": ".".join(str(p) for p in error["loc"]) or "(root)", "problem": error["msg"]}
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        listed = "; ".join(f"{p['path']}: {p['problem']}" for p in problems)
        raise NotificationConfigError(f"notification secret is invalid: {listed}", {"problems": problems}) from None


class ConfigSource(Protocol):
    def current(self) -> NotificationConfig:
        """The routes in force. Raises: NotificationConfigError."""
        ...


class NoRoutes:
    """No secret configured: every notification is kept in the outbox as ``no_route`` (and logged)."""

    def current(self) -> NotificationConfig:
        return NotificationConfig()


class SecretsManagerConfig:
    """Reads the secret, keeping it ``ttl_seconds`` so a rotation takes effect without a restart."""

    def __init__(self, client_factory: Callable[[], Any], secret_id: str, ttl_seconds: float = 60.0) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._secret_id = secret_id
        self._ttl = ttl_seconds
        self._cached: tuple[float, NotificationConfig] | None = None
        self._lock = threading.Lock()

    def current(self) -> NotificationConfig:
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self._ttl:
                return self._cached[1]
            config = parse_config(self._read())
            self._cached = (time.monotonic(), config)
            return config

    def _read(self) -> str:
        try:
            if self._client is None:
                self._client = self._client_factory()
            with quiet_library_logs():  # botocore logs response bodies at DEBUG: here, the webhook URLs
                answer = self._client.get_secret_value(SecretId=self._secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise NotificationConfigError(f"cannot read the notification secret {self._secret_id!r}: {code}") from None
        except BotoCoreError as exc:
            raise NotificationConfigError(
                f"cannot read the notification secret {self._secret_id!r}: {type(exc).__name__}"
            ) from None
        if "SecretString" not in answer:
            raise NotificationConfigError(f"notification secret {self._secret_id!r} has no SecretString")
        return str(answer["SecretString"])
