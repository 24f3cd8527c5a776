"""On AWS the admin and mint tokens come from Secrets Manager, named by ``*_SECRET`` env vars."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from koipond import envvars
from koipond.errors import ConfigurationError
from koipond.settings import Settings, get_settings, resolve_secrets


@pytest.fixture
def secretsmanager() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_tokens_are_read_from_the_secrets_their_env_vars_name(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_arn = secretsmanager.create_secret(Name="koipond/dev/admin-token", SecretString="admin-xyz")["ARN"]
    secretsmanager.create_secret(Name="koipond/dev/token-mint-admin-token", SecretString="mint-abc")
    monkeypatch.setenv(envvars.ADMIN_TOKEN_SECRET, admin_arn)
    monkeypatch.setenv(envvars.TOKEN_MINT_ADMIN_TOKEN_SECRET, "koipond/dev/token-mint-admin-token")
    settings = resolve_secrets(Settings())
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "admin-xyz"
    assert settings.token_mint_admin_token is not None
    assert settings.token_mint_admin_token.get_secret_value() == "mint-abc"


def test_a_token_given_directly_wins_and_nothing_is_read() -> None:
    def unreachable(secret_id: str) -> str:
        raise AssertionError(f"read {secret_id}")

    settings = Settings(admin_token="direct", admin_token_secret="koipond/dev/admin-token")
    resolved = resolve_secrets(settings, unreachable)
    assert resolved is settings
    assert resolved.admin_token is not None
    assert resolved.admin_token.get_secret_value() == "direct"


def test_a_missing_secret_is_a_configuration_error_naming_it(secretsmanager: Any) -> None:
    settings = Settings(admin_token_secret="koipond/dev/nope")
    with pytest.raises(ConfigurationError, match=r"koipond/dev/nope.*ResourceNotFoundException"):
        resolve_secrets(settings)


def test_the_process_settings_hold_the_secret_after_a_cold_start(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = secretsmanager.create_secret(Name="koipond/dev/admin-token", SecretString="cold-start")["ARN"]
    monkeypatch.setenv(envvars.ADMIN_TOKEN_SECRET, arn)
    get_settings.cache_clear()
    try:
        admin_token = get_settings().admin_token
        assert admin_token is not None
        assert admin_token.get_secret_value() == "cold-start"
    finally:
        get_settings.cache_clear()  # the next caller reads its own environment
