"""A School's workers get the School's settings as the supervisor holds them (CLI options and secrets too)."""

from __future__ import annotations

import json

import pytest

from school_container.settings import SchoolSettings, settings_from_wire, settings_to_wire


def test_settings_survive_the_pipe_to_a_worker_secrets_included() -> None:
    settings = SchoolSettings(
        keeper_url="http://keeper.test", token="school-key", target_admin_token="mint-key", school_workers=3
    )
    wire = json.loads(json.dumps(settings_to_wire(settings)))
    assert settings_from_wire(wire) == settings
    assert settings_from_wire(wire).target_admin_token is not None
    assert settings_from_wire(wire).target_admin_token.get_secret_value() == "mint-key"


def test_what_the_supervisor_sends_wins_over_the_workers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOIPOND_MAX_CONNECTIONS", "7")
    settings = SchoolSettings(keeper_url="http://keeper.test", token="k", max_connections=64)
    assert settings_from_wire(settings_to_wire(settings)).max_connections == 64


@pytest.mark.parametrize("workers", [0, 257])
def test_a_worker_count_out_of_range_is_refused(workers: int) -> None:
    with pytest.raises(ValueError, match="school_workers"):
        SchoolSettings(keeper_url="http://keeper.test", token="k", school_workers=workers)
