"""YAML people hand the CLI is bounded: a 'billion laughs' file is refused at once, in little memory."""

from __future__ import annotations

import itertools
import time
import tracemalloc
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from koipond.behavior_files import load_behavior_file
from koipond.errors import BehaviorInvalidError
from koipond.user_files import MAX_FILE_BYTES, FileLimitError, load_yaml
from koipond_cli.main import cli
from koipond_cli.rollout_commands import read_plan

# 9 levels of 9 aliases: 9**9 (387 million) "lol"s once expanded, in a few hundred bytes.
LEVELS = "abcdefghi"
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n" for previous, name in itertools.pairwise(LEVELS)
)
BEHAVIOR_BOMB = (
    "description: laughs\n"
    "bomb:\n  " + BILLION_LAUGHS.replace("\n", "\n  ").rstrip() + "\n"
    "actions:\n  a: {method: GET, path: /x, rate_per_hour: 1, body: {laughs: *i}}\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    return file


def refused_quickly_in_little_memory(load: object) -> Exception:
    """Run ``load()``; it must raise within a second, allocating under 20 MB on the way."""
    assert callable(load)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(Exception) as refused:  # noqa: PT011 - the callers check which
            load()
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 20 * 1024 * 1024
    return refused.value


def test_the_bomb_is_small() -> None:
    assert len(BEHAVIOR_BOMB.encode()) < 700


def test_loading_a_billion_laughs_is_refused_naming_the_problem() -> None:
    error = refused_quickly_in_little_memory(lambda: load_yaml(BILLION_LAUGHS))
    assert isinstance(error, FileLimitError)
    assert "250,000 nodes" in str(error)
    assert "aliases" in str(error)


def test_a_behavior_file_bomb_is_refused_as_an_invalid_behavior(tmp_path: Path) -> None:
    file = write(tmp_path, "bomb.yaml", BEHAVIOR_BOMB)
    error = refused_quickly_in_little_memory(lambda: load_behavior_file(file))
    assert isinstance(error, BehaviorInvalidError)
    assert "bomb.yaml" in error.message
    assert "aliases" in error.message


def test_behaviors_put_says_why_it_refuses_the_bomb_without_calling_the_keeper(tmp_path: Path) -> None:
    file = write(tmp_path, "bomb.yaml", BEHAVIOR_BOMB)
    env = {"KOIPOND_KEEPER_URL": "http://127.0.0.1:9", "KOIPOND_TOKEN": "unused"}
    result = CliRunner().invoke(cli, ["behaviors", "put", str(file)], env=env)
    assert result.exit_code == 1
    assert "expands to more than 250,000 nodes through its aliases" in result.output


def test_a_rollout_plan_bomb_is_refused_naming_the_problem(tmp_path: Path) -> None:
    file = write(tmp_path, "plan.yaml", BILLION_LAUGHS + "stages: *i\n")
    error = refused_quickly_in_little_memory(lambda: read_plan(file))
    assert isinstance(error, click.ClickException)
    assert "aliases" in error.message


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(FileLimitError, match="recursive"):
        load_yaml("a: &a [1, *a]")


def test_deep_nesting_is_refused_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(FileLimitError, match="nested too deeply"):
        load_yaml("[" * 5000 + "]" * 5000)
    file = write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(BehaviorInvalidError, match="nested too deeply"):
        load_behavior_file(file)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_file_over_the_size_limit_is_refused_naming_the_limit(tmp_path: Path, suffix: str) -> None:
    file = write(tmp_path, f"huge{suffix}", "#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(BehaviorInvalidError, match="larger than the limit of 1,024 KiB"):
        load_behavior_file(file)


def test_anchors_and_merge_keys_within_the_limit_still_work(tmp_path: Path) -> None:
    text = (
        "description: shared defaults\n"
        "defaults: &get {method: GET, rate_per_hour: 1}\n"
        "actions:\n"
        "  a: {<<: *get, path: /a}\n"
        "  b: {<<: *get, path: /b}\n"
    )
    assert load_yaml(text)["actions"]["b"] == {"method": "GET", "rate_per_hour": 1, "path": "/b"}
    with pytest.raises(BehaviorInvalidError, match="unknown field 'defaults'"):
        load_behavior_file(write(tmp_path, "merge.yaml", text))  # parsed fine; the schema has no 'defaults'
