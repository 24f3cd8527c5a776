"""Users' tokens from a local file: one token a line, a token pipeline shard, or JSON ``{index: token}`` or a list.

Error messages name lines, indexes and counts, never a token: a tokens file is full of credentials.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from koipond.tokens.models import ShardDocument
from school_container.tokens import TokenUnavailableError

MAX_TOKEN_FILE_BYTES = 256 * 1024 * 1024  # a few million tokens: more than one process runs koi for
_SHARD_FIELDS = frozenset({"workspace", "shard", "tokens"})


class TokenFileError(ValueError):
    """A tokens file that cannot be read as tokens; the message says where, never what a token is."""


class FileTokenSource:
    """Tokens held in memory, read once (from a file, or fetched once from another source).

    Args:
        tokens: user index -> token.
        workspace: the workspace the tokens belong to, when the file says (a pipeline shard does);
            asking for another workspace's tokens then fails instead of handing out tokens the target refuses.
    """

    def __init__(self, tokens: Mapping[int, str], workspace: str | None = None) -> None:
        self._tokens = dict(tokens)
        self._workspace = workspace

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> FileTokenSource:
        """The tokens of ``path`` (see :func:`read_token_file`)."""
        tokens, workspace = read_token_file(path)
        return cls(tokens, workspace)

    def __len__(self) -> int:
        return len(self._tokens)

    @property
    def workspace(self) -> str | None:
        return self._workspace

    def missing(self, indexes: Sequence[int]) -> list[int]:
        """The indexes of ``indexes`` that have no token here, in order."""
        return [i for i in indexes if i not in self._tokens]

    async def tokens_for(self, target: str, workspace: str, indexes: Sequence[int]) -> dict[int, str]:
        """A token for each of ``indexes`` (all or nothing).

        Raises:
            TokenUnavailableError: the tokens are another workspace's, or some indexes have none.
        """
        if self._workspace is not None and workspace != self._workspace:
            raise TokenUnavailableError(
                f"the tokens are workspace {self._workspace!r}'s, not {workspace!r}'s (use workspace {self._workspace})"
            )
        absent = self.missing(sorted(set(indexes)))
        if absent:
            raise TokenUnavailableError(
                f"{len(absent)} of {len(set(indexes))} tokens are missing (the first without one: user {absent[0]})"
            )
        return {i: self._tokens[i] for i in indexes}


def read_token_file(path: str | os.PathLike[str]) -> tuple[dict[int, str], str | None]:
    """Read a tokens file: user index -> token, and the workspace when the file names one.

    Four forms: a text file of one token a line (user ``i`` gets the ``i``-th token; blank lines and
    lines starting with ``#`` are skipped), a token pipeline shard (:class:`ShardDocument` JSON, which
    names its workspace), a JSON object ``{"<index>": "<token>"}``, or a JSON list of tokens.

    Raises:
        TokenFileError: the file is too large, not UTF-8, or not one of the forms.
        OSError: it cannot be read.
    """
    file = Path(path)
    with file.open("rb") as handle:
        raw = handle.read(MAX_TOKEN_FILE_BYTES + 1)
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise TokenFileError(f"{file} is larger than {MAX_TOKEN_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenFileError(f"{file} is not UTF-8 text") from None
    if text.lstrip()[:1] in ("{", "["):
        return _json_tokens(file, text)
    return _line_tokens(file, text), None


def _line_tokens(file: Path, text: str) -> dict[int, str]:
    tokens: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        token = line.strip()
        if not token or token.startswith("#"):
            continue
        if any(c.isspace() for c in token):
            raise TokenFileError(f"{file} line {number}: a token has no spaces (one token a line)")
        tokens[len(tokens)] = token
    if not tokens:
        raise TokenFileError(f"{file} holds no tokens")
    return tokens


def _json_tokens(file: Path, text: str) -> tuple[dict[int, str], str | None]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        # The decoder's message quotes no input, only where it stopped.
        raise TokenFileError(f"{file} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise TokenFileError(f"{file} is not valid JSON: nested too deeply") from None
    if isinstance(data, dict) and data.keys() >= _SHARD_FIELDS:
        try:
            shard = ShardDocument.model_validate(data)
        except ValidationError as exc:
            fields = ", ".join(sorted({".".join(str(p) for p in e["loc"][:1]) for e in exc.errors()}))
            raise TokenFileError(f"{file} is not a valid token shard (fields: {fields})") from None
        return dict(shard.tokens), shard.workspace
    if isinstance(data, list):  # the text began with "[": a list of tokens
        return _indexed_tokens(file, {str(i): token for i, token in enumerate(data)}), None
    return _indexed_tokens(file, data), None  # the text began with "{": an object


def _indexed_tokens(file: Path, data: dict[str, Any]) -> dict[int, str]:
    tokens: dict[int, str] = {}
    for position, (key, value) in enumerate(data.items(), start=1):
        if not key.isdigit():
            # Not quoted: a file with index and token swapped would put a token here.
            raise TokenFileError(f"{file}: key number {position} is not a user index (a whole number)")
        if not isinstance(value, str) or not value.strip():
            raise TokenFileError(f"{file}: the token of user {key} is not a non-empty string")
        tokens[int(key)] = value.strip()
    if not tokens:
        raise TokenFileError(f"{file} holds no tokens")
    return tokens
