"""The ``koipond`` client verbs against a real pond, as a user runs them."""

from __future__ import annotations

import json

from local_pond.pond import LocalPond
from tests.e2e.conftest import run_cli


def start_args(name: str, koi: int) -> list[str]:
    return ["test", "start", "--name", name, "--target", "http://127.0.0.1:8800", "--behavior", "average_user",
            "--koi", str(koi)]  # fmt: skip


def test_cli_drives_a_test_through_its_life(pond: LocalPond) -> None:
    started = run_cli(pond, "--json", *start_args("cli life", 800))
    assert started.returncode == 0, started.stderr
    test_id = json.loads(started.stdout)["id"]
    assert run_cli(pond, "test", "scale", test_id, "1600", "--reason", "more").returncode == 0
    shed = run_cli(pond, "test", "shed", test_id, "50")
    assert "active 800" in shed.stdout
    listed = run_cli(pond, "test", "list", "--status", "running")
    assert test_id in listed.stdout
    stopped = run_cli(pond, "--json", "test", "stop", test_id, "--reason", "cli done")
    assert json.loads(stopped.stdout)["status"] == "stopped"
    shown = run_cli(pond, "test", "show", test_id)
    assert "test_scaled" in shown.stdout
    assert "cli done" in shown.stdout


def test_cli_estop_on_status_off(pond: LocalPond) -> None:
    on = run_cli(pond, "estop", "on", "--reason", "cli drill")
    assert "EMERGENCY STOP ACTIVE" in on.stdout
    refused = run_cli(pond, *start_args("during estop", 5))
    assert refused.returncode == 1
    assert "emergency stop is active" in refused.stderr
    assert "409" in refused.stderr
    assert "cli drill" in run_cli(pond, "estop", "status").stdout
    assert "not active" in run_cli(pond, "estop", "off", "--reason", "drill over").stdout


def test_cli_keys_create_list_revoke(pond: LocalPond) -> None:
    created = json.loads(run_cli(pond, "--json", "keys", "create", "--name", "cli viewer", "--role", "viewer").stdout)
    assert run_cli(pond, "test", "list", token=created["token"]).returncode == 0
    assert run_cli(pond, "keys", "whoami", token=created["token"]).stdout.strip() == (
        f"cli viewer (viewer), key {created['id']}"
    )
    assert created["id"] in run_cli(pond, "keys", "list").stdout
    assert run_cli(pond, "keys", "revoke", created["id"]).returncode == 0
    denied = run_cli(pond, "test", "list", token=created["token"])
    assert denied.returncode == 1
    assert "revoked" in denied.stderr


def test_cli_reports_bad_input_clearly(pond: LocalPond) -> None:
    result = run_cli(pond, "test", "scale", "lt-doesnotexist", "10")
    assert result.returncode == 1
    assert "no load test with id 'lt-doesnotexist'" in result.stderr
    bad_duration = run_cli(pond, *start_args("bad", 5), "--duration", "soon")
    assert bad_duration.returncode == 2
    assert "not a duration" in bad_duration.stderr


def test_cli_without_keeper_url_names_the_variable(pond: LocalPond) -> None:
    result = run_cli(pond, "--keeper-url", "", "test", "list")
    assert result.returncode == 2
    assert "KOIPOND_KEEPER_URL" in result.stderr
