"""Tokens from a file: one a line, a pipeline shard, or JSON {index: token}; errors never quote a token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from school_container.file_tokens import FileTokenSource, TokenFileError, read_token_file
from school_container.tokens import TokenUnavailableError

SECRETISH = "xoxp-T-run-0-0123456789abcdef0123456789abcdef"


def tokens_for(source: FileTokenSource, indexes: list[int], workspace: str = "T-run") -> dict[int, str]:
    return asyncio.run(source.tokens_for("http://target", workspace, indexes))


def test_a_text_file_gives_koi_i_the_ith_token_skipping_blanks_and_comments(tmp_path: Path) -> None:
    file = tmp_path / "tokens.txt"
    file.write_text("# minted today\ntok-a\n\n  tok-b  \ntok-c\n")
    assert read_token_file(file) == ({0: "tok-a", 1: "tok-b", 2: "tok-c"}, None)


def test_a_json_object_maps_user_indexes_to_tokens(tmp_path: Path) -> None:
    file = tmp_path / "tokens.json"
    file.write_text(json.dumps({"0": "tok-a", "7": "tok-h"}))
    assert read_token_file(file) == ({0: "tok-a", 7: "tok-h"}, None)


def test_a_json_list_gives_koi_i_the_ith_token(tmp_path: Path) -> None:
    file = tmp_path / "tokens.json"
    file.write_text(json.dumps(["tok-a", "tok-b"]))
    assert read_token_file(file) == ({0: "tok-a", 1: "tok-b"}, None)


def test_a_pipeline_shard_gives_its_tokens_and_workspace(tmp_path: Path) -> None:
    file = tmp_path / "000000.json"
    shard = {
        "workspace": "W1",
        "shard": 0,
        "tokens": {"0": "tok-a", "1": "tok-b"},
        "minted_at": "2026-12-01T00:00:00Z",
        "job_id": "job-1",
    }
    file.write_text(json.dumps(shard))
    assert read_token_file(file) == ({0: "tok-a", 1: "tok-b"}, "W1")


def test_a_source_hands_out_exactly_the_tokens_asked_for() -> None:
    source = FileTokenSource({0: "a", 1: "b", 2: "c"})
    assert tokens_for(source, [2, 0]) == {2: "c", 0: "a"}
    assert len(source) == 3


def test_missing_tokens_fail_all_or_nothing_and_say_how_many() -> None:
    source = FileTokenSource({0: "a", 1: "b"})
    assert source.missing(range(4)) == [2, 3]
    with pytest.raises(TokenUnavailableError, match=r"2 of 4 tokens are missing \(the first without one: user 2\)"):
        tokens_for(source, [0, 1, 2, 3])


def test_tokens_of_another_workspace_are_refused() -> None:
    source = FileTokenSource({0: "a"}, workspace="W1")
    with pytest.raises(TokenUnavailableError, match="workspace 'W1'"):
        tokens_for(source, [0], workspace="T-run")
    assert tokens_for(source, [0], workspace="W1") == {0: "a"}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "holds no tokens"),
        ("# only a comment\n", "holds no tokens"),
        (f"{SECRETISH} {SECRETISH}\n", "line 1: a token has no spaces"),
        ("{not json", "is not valid JSON"),
        (json.dumps({SECRETISH: "0"}), "key number 1 is not a user index"),
        (json.dumps({"0": 5}), "the token of user 0 is not a non-empty string"),
        (json.dumps({}), "holds no tokens"),
        (json.dumps({"workspace": "W", "shard": -1, "tokens": {}}), "is not a valid token shard"),
        (json.dumps([SECRETISH, 3]), "the token of user 1 is not a non-empty string"),
        (f'["{SECRETISH}"', "is not valid JSON"),
    ],
)
def test_a_file_that_is_not_tokens_is_refused_without_quoting_a_token(
    tmp_path: Path, content: str, problem: str
) -> None:
    file = tmp_path / "tokens"
    file.write_text(content)
    with pytest.raises(TokenFileError, match=problem) as raised:
        read_token_file(file)
    assert SECRETISH not in str(raised.value)
    assert "0123456789abcdef" not in str(raised.value)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_bytes(b"\xff\xfe\x00tok")
    with pytest.raises(TokenFileError, match="not UTF-8"):
        read_token_file(file)


def test_from_file_reads_the_file_once(tmp_path: Path) -> None:
    file = tmp_path / "tokens.txt"
    file.write_text("tok-a\ntok-b\n")
    source = FileTokenSource.from_file(file)
    file.unlink()
    assert tokens_for(source, [1]) == {1: "tok-b"}
    assert source.workspace is None
