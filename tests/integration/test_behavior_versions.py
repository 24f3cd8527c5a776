"""A behavior's versions and diffs through the Keeper handler on moto: the routes, KeeperClient, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from koipond.api.client import KeeperApiError, KeeperClient
from tests.conftest import ADMIN_TOKEN, Api, issue_token
from tests.integration.keeper_http import keeper_over_http, koipond

BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"


def average_user(**rates: float) -> dict[str, Any]:
    """The shipped average user, with some actions' ``rate_per_hour`` replaced."""
    document: dict[str, Any] = yaml.safe_load((BEHAVIORS / "average_user.yaml").read_text())
    for name, rate in rates.items():
        document["actions"][name]["rate_per_hour"] = rate
    return document


@pytest.fixture
def stored(api: Api) -> Api:
    """``avg`` in three versions: as shipped, read_history doubled, then auth_test removed."""
    assert api.put("/v1/behaviors/avg", average_user()).status == 201
    assert api.put("/v1/behaviors/avg", average_user(read_history=40)).status == 201
    third = average_user(read_history=40)
    del third["actions"]["auth_test"]
    assert api.put("/v1/behaviors/avg", third).status == 201
    return api


@pytest.fixture
def keeper_url(stored: Api) -> Iterator[str]:
    with keeper_over_http() as url:
        yield url


def test_versions_are_listed_newest_first_with_their_load_and_paged(stored: Api) -> None:
    first = stored.get("/v1/behaviors/avg/versions?limit=2")
    assert first.status == 200, first.body
    assert [v["version"] for v in first.body["versions"]] == [3, 2]
    newest = first.body["versions"][0]
    assert (newest["created_by"], newest["actions"], newest["steady_per_koi_per_hour"]) == ("bootstrap admin", 4, 57)
    assert newest["requests_per_second"] == pytest.approx(57_000 / 3600)
    rest = stored.get(f"/v1/behaviors/avg/versions?limit=2&cursor={first.body['next_cursor']}")
    assert [v["version"] for v in rest.body["versions"]] == [1]
    assert rest.body["next_cursor"] is None


def test_an_unknown_behavior_has_no_versions_404_and_a_foreign_cursor_is_400(stored: Api) -> None:
    missing = stored.get("/v1/behaviors/nope/versions")
    assert (missing.status, missing.error_code) == (404, "not_found")
    assert "no behavior 'nope'" in missing.body["error"]["message"]
    cursor = stored.get("/v1/behaviors/average_user/versions?limit=1").body["next_cursor"]
    assert cursor is None  # one version only
    other = stored.get("/v1/behaviors/avg/versions?limit=1").body["next_cursor"]
    refused = stored.get(f"/v1/behaviors/average_user/versions?cursor={other}")
    assert (refused.status, refused.error_code) == (400, "bad_request")


def test_the_diff_route_names_rate_changes_and_removed_actions(stored: Api) -> None:
    answer = stored.get("/v1/behaviors/avg/diff?from=1")
    assert answer.status == 200, answer.body
    diff = answer.body
    assert (diff["before"]["version"], diff["after"]["version"], diff["empty"]) == (1, 3, False)
    assert [(c["action"], c["delta_per_koi_per_hour"], c["percent"]) for c in diff["rate_changes"]] == [
        ("read_history", 20, 100)
    ]
    assert [a["action"] for a in diff["actions_removed"]] == ["auth_test"]
    assert diff["changes"] == []
    assert stored.get("/v1/behaviors/avg/diff?from=2&to=2").body["empty"] is True


def test_the_diff_of_a_missing_version_is_404_and_needs_a_from(stored: Api) -> None:
    missing = stored.get("/v1/behaviors/avg/diff?from=1&to=9")
    assert (missing.status, missing.error_code) == (404, "not_found")
    assert "version 9" in missing.body["error"]["message"]
    assert stored.get("/v1/behaviors/avg/diff").status == 422


def test_a_viewer_may_list_versions_and_diff(stored: Api) -> None:
    viewer = stored.as_(issue_token(stored, "viewer"))
    assert viewer.get("/v1/behaviors/avg/versions").status == 200
    assert viewer.get("/v1/behaviors/avg/diff?from=1&to=2").status == 200


def test_the_client_follows_the_pages_and_reads_the_diff(keeper_url: str) -> None:
    with KeeperClient(keeper_url, ADMIN_TOKEN) as client:
        assert [v.version for v in client.behavior_versions("avg")] == [3, 2, 1]
        assert [v.version for v in client.behavior_versions("avg", limit=2)] == [3, 2]
        diff = client.diff_behavior("avg", 1, 2)
        assert [c.action for c in diff.rate_changes] == ["read_history"]
        with pytest.raises(KeeperApiError) as refused:
            client.behavior_versions("nope")
        assert refused.value.status == 404


def test_cli_versions_prints_who_when_and_the_rate(keeper_url: str) -> None:
    listed = koipond(keeper_url, "behaviors", "versions", "avg")
    assert listed.exit_code == 0, listed.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in listed.output.splitlines() if "2026-" in line]
    assert [(row[0], row[4], row[5]) for row in rows] == [("3", "57", "15.8"), ("2", "58", "16.1"), ("1", "38", "10.6")]
    as_json = json.loads(koipond(keeper_url, "--json", "behaviors", "versions", "avg", "--limit", "1").stdout)
    assert [(v["version"], v["steady_per_koi_per_hour"]) for v in as_json] == [(3, 57)]


def test_cli_diff_of_two_versions_prints_the_rate_change_and_removed_action(keeper_url: str) -> None:
    shown = koipond(keeper_url, "behaviors", "diff", "avg", "1", "latest")
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "avg: version 1 (" in text
    assert "-> version 3 (" in text
    assert "steady rate: 38 -> 57 calls per koi per hour (10.6 -> 15.8 req/s per 1,000 koi, +50%)" in text
    assert "read_history │ 20 │ 40 │ +20 │ +100% │ +5.56" in text
    assert "actions removed" in text
    assert "auth_test │ POST │ /api/auth.test" in text


def test_cli_diff_against_a_local_file_and_as_json(keeper_url: str, tmp_path: Path) -> None:
    file = tmp_path / "avg.yaml"
    edited = average_user(read_history=40, user_info=5)
    edited["actions"]["read_history"]["params"]["limit"] = "100"
    file.write_text(yaml.safe_dump(edited))
    answer = koipond(keeper_url, "--json", "behaviors", "diff", "avg", "2", str(file))
    assert answer.exit_code == 0, answer.output
    diff = json.loads(answer.stdout)
    assert (diff["before"]["version"], diff["after"]["file"]) == (2, str(file))
    assert [(c["action"], c["percent"]) for c in diff["rate_changes"]] == [("user_info", -50)]
    assert [(c["where"], c["before"], c["after"]) for c in diff["changes"]] == [
        ("actions.read_history.params.limit", "50", "100")
    ]
    same = koipond(keeper_url, "behaviors", "diff", "avg", str(BEHAVIORS / "average_user.yaml"), "1")
    assert "no changes: the two documents are the same" in same.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("avg", "1", "9"), "no behavior 'avg' version 9"),
        (("nope", "1", "latest"), "no behavior 'nope' version 1"),
    ],
)
def test_cli_diff_of_an_unknown_behavior_or_version_exits_1_with_the_keepers_message(
    keeper_url: str, args: tuple[str, ...], message: str
) -> None:
    answer = koipond(keeper_url, "behaviors", "diff", *args)
    assert answer.exit_code == 1
    assert message in answer.output
    assert "HTTP 404 not_found" in answer.output


@pytest.mark.parametrize("bad", ["0", "latst", "no/such/file.yaml", "v2"])
def test_cli_diff_with_a_bad_version_argument_is_a_usage_error(keeper_url: str, bad: str) -> None:
    answer = koipond(keeper_url, "behaviors", "diff", "avg", "1", bad)
    assert answer.exit_code == 2
    assert "Invalid value for 'B'" in answer.output


def test_cli_versions_of_an_unknown_behavior_exits_1(keeper_url: str) -> None:
    answer = koipond(keeper_url, "behaviors", "versions", "nope")
    assert answer.exit_code == 1
    assert "no behavior 'nope'" in answer.output
