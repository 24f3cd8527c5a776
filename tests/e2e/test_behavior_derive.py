"""A behavior derived from a usage export is accepted by a real Keeper and a test can run it."""

from __future__ import annotations

import json
from pathlib import Path

from koipond.behavior_files import load_behavior_file
from local_pond.pond import LocalPond
from tests.e2e.conftest import REPO, run_cli

USAGE = """user,method,calls,window_start,window_end
U1,chat.postMessage,96,2026-11-27T00:00:00Z,2026-11-28T00:00:00Z
U1,conversations.history,480,2026-11-27T00:00:00Z,2026-11-28T00:00:00Z
U2,users.info,240,2026-11-27T00:00:00Z,2026-11-28T00:00:00Z
U2,files.upload,5,2026-11-27T00:00:00Z,2026-11-28T00:00:00Z
"""


def test_a_derived_behavior_is_stored_by_the_keeper_and_a_test_starts_with_it(pond: LocalPond, tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_text(USAGE)
    derived = tmp_path / "derived.yaml"
    base = str(REPO / "behaviors" / "org_wide_announcement.yaml")
    made = run_cli(pond, "behaviors", "derive", str(tmp_path / "usage.csv"), "--base", base, "-o", str(derived))
    assert made.returncode == 0, made.stderr
    assert "unmapped method files.upload" in made.stderr

    stored = run_cli(pond, "--json", "behaviors", "put", str(derived), "--name", "derived")
    assert stored.returncode == 0, stored.stderr
    with pond.client() as admin:
        kept = admin.get_behavior("derived")
    assert kept.version == json.loads(stored.stdout)["version"]
    assert kept.document == load_behavior_file(derived).model_dump(mode="json", exclude_none=True)
    assert kept.document["actions"]["post_message"]["rate_per_hour"] == 2  # 96 calls / 2 users / 24 h
    assert "org_wide_announcement" in kept.document["formations"]

    started = run_cli(pond, "--json", "test", "start", "--name", "derived", "--target", "http://127.0.0.1:8800",
                      "--behavior", "derived", "--koi", "10")  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["behavior"]["name"] == "derived"
    assert run_cli(pond, "test", "stop", json.loads(started.stdout)["id"], "--reason", "done").returncode == 0
