"""The School's HTTP client is chosen by one setting: its own (native) by default, pyreqwest as the fallback."""

from __future__ import annotations

import pytest

from koipond.envvars import SCHOOL_HTTP_CLIENT
from school_container.main import web_api_for
from school_container.settings import SchoolSettings
from school_container.web_api import NativeWebApi, ReqwestWebApi


def settings(monkeypatch: pytest.MonkeyPatch, choice: str | None) -> SchoolSettings:
    monkeypatch.setenv("KOIPOND_KEEPER_URL", "http://keeper.test")
    monkeypatch.setenv("KOIPOND_TOKEN", "t")
    if choice is None:
        monkeypatch.delenv(SCHOOL_HTTP_CLIENT, raising=False)
    else:
        monkeypatch.setenv(SCHOOL_HTTP_CLIENT, choice)
    return SchoolSettings()  # type: ignore[call-arg]


def test_native_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(web_api_for(settings(monkeypatch, None))) is NativeWebApi


def test_pyreqwest_is_chosen_by_its_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(web_api_for(settings(monkeypatch, "pyreqwest"))) is ReqwestWebApi


def test_an_unknown_client_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="school_http_client"):
        settings(monkeypatch, "curl")
