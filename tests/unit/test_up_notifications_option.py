"""`koipond up --notifications FILE`: the routes file is checked before any process starts."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from koipond_cli.main import cli
from koipond_cli.pond_commands import _notification_routes

SECRET_URL = "https://hooks.slack.com/triggers/T000/secret-part"


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(document))
    return path


def test_a_valid_routes_file_is_passed_on_as_it_is(tmp_path: Path) -> None:
    routes = {"routes": [{"name": "oncall", "type": "incoming", "url": SECRET_URL, "kinds": ["emergency_stop_on"]}]}
    path = _write(tmp_path, routes)
    assert json.loads(_notification_routes(path)) == routes


def test_an_invalid_routes_file_stops_up_naming_the_field_but_not_the_url(tmp_path: Path) -> None:
    routes = {"routes": [{"name": "oncall", "type": "email", "url": SECRET_URL, "kinds": ["emergency_stop_on"]}]}
    result = CliRunner().invoke(
        cli, ["up", "--state-dir", str(tmp_path / "pond"), "--notifications", str(_write(tmp_path, routes))]
    )
    assert result.exit_code == 2
    assert "routes.0.type" in result.output
    assert "secret-part" not in result.output
    assert not (tmp_path / "pond").exists()  # nothing was started


def test_a_routes_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text("routes: [")
    result = CliRunner().invoke(cli, ["up", "--notifications", str(path)])
    assert result.exit_code == 2
    assert "not JSON" in result.output
