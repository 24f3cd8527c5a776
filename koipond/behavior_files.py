"""Behavior files (YAML or JSON) and the one way schema problems are reported: ``{"path", "problem"}``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from koipond.errors import BehaviorInvalidError
from koipond.models.behavior import BEHAVIOR_NAME_PATTERN, BehaviorDocument, CrossFieldError
from koipond.user_files import FileLimitError, load_yaml, read_user_file

BEHAVIOR_FILE_SUFFIXES: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
"""File name suffix -> format of the behavior files ``load_behavior_file`` reads."""

_MAX_PROBLEMS_IN_MESSAGE = 10  # details carry all of them; the message stays readable in a terminal
_SCALARS = (str, int, float, bool, type(None))


class _StrictYamlLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, which PyYAML would otherwise resolve silently (last wins)."""


def _construct_mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        # Merge keys (<<) may legitimately repeat what they merge; only explicit scalar keys are checked.
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_without_duplicates)


def validation_problems(exc: ValidationError) -> list[dict[str, str]]:
    """Turn a pydantic error into ``[{"path": "actions.post.body.text", "problem": "..."}]``.

    Paths are dotted, with ``[i]`` for list indexes; "" is the document itself. A cross-field
    problem (unknown action, step or template variable) keeps its own precise path.

    Args:
        exc: the error raised by validating a ``BehaviorDocument`` (or any model).

    Returns:
        One entry per problem, in pydantic's order.
    """
    problems: list[dict[str, str]] = []
    for error in exc.errors():
        base = _dotted_path(error["loc"])
        inner = error.get("ctx", {}).get("error")
        if isinstance(inner, CrossFieldError):
            problems.extend({"path": _join(base, path), "problem": text} for path, text in inner.problems)
        else:
            problems.append({"path": base, "problem": _describe(error)})
    return problems


def _dotted_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":  # pydantic's marker for "the key itself failed"; _describe says so
            path = _join(path, part)
    return path


def _join(base: str, relative: str) -> str:
    if not base or not relative:
        return base or relative
    return base + relative if relative.startswith("[") else f"{base}.{relative}"


def _describe(error: ErrorDetails) -> str:
    loc, kind = error["loc"], error["type"]
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}"
    if kind == "missing":
        return f"required field {loc[-1]!r} is missing"
    message = error["msg"].removeprefix("Value error, ")
    if "[key]" in loc:
        return f"invalid name {error['input']!r}: {message}"
    if kind != "value_error" and isinstance(error["input"], _SCALARS):
        message += f" (got {_truncate(repr(error['input']))})"
    return message


def _truncate(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def behavior_invalid_error(file: str, problems: list[dict[str, str]]) -> BehaviorInvalidError:
    """Build the one error for a file with schema problems; the message names file, paths and problems.

    Args:
        file: the file (or upload) the problems were found in.
        problems: as returned by ``validation_problems``.

    Returns:
        The error, with ``details={"file": file, "problems": problems}``.
    """
    shown = [f"{p['path'] or '(document)'}: {p['problem']}" for p in problems[:_MAX_PROBLEMS_IN_MESSAGE]]
    hidden = len(problems) - len(shown)
    more = f" (and {hidden} more)" if hidden else ""
    return BehaviorInvalidError(
        f"behavior file {file} is invalid: {'; '.join(shown)}{more}",
        details={"file": file, "problems": problems},
    )


def load_behavior_file(path: str | os.PathLike[str]) -> BehaviorDocument:
    """Read and validate one behavior file; its format follows the suffix (.yaml, .yml, .json).

    Args:
        path: the file.

    Returns:
        The validated document.

    Raises:
        BehaviorInvalidError: the file has an unknown suffix, is over a size limit (``koipond.user_files``),
            is not valid YAML/JSON, or fails the schema; every problem is listed in ``details["problems"]``.
        OSError: the file cannot be read.
    """
    file = Path(path)
    try:
        raw = read_user_file(file)
    except FileLimitError as exc:
        raise behavior_invalid_error(str(file), [{"path": "", "problem": str(exc)}]) from exc
    data = _parse(raw, file)
    try:
        return BehaviorDocument.model_validate(data)
    except ValidationError as exc:
        raise behavior_invalid_error(str(file), validation_problems(exc)) from exc


def _parse(raw: bytes, file: Path) -> Any:
    kind = BEHAVIOR_FILE_SUFFIXES.get(file.suffix.lower())
    if kind is None:
        problem = f"unknown file type {file.suffix!r}; expected one of {', '.join(BEHAVIOR_FILE_SUFFIXES)}"
        raise behavior_invalid_error(str(file), [{"path": "", "problem": problem}])
    try:
        text = raw.decode("utf-8")
        if kind == "json":
            return _load_json(text)
        return load_yaml(text, _StrictYamlLoader)
    except FileLimitError as exc:
        raise behavior_invalid_error(str(file), [{"path": "", "problem": str(exc)}]) from exc
    except (ValueError, yaml.YAMLError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise behavior_invalid_error(str(file), [{"path": "", "problem": _syntax_problem(exc, kind)}]) from exc


def _load_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_object_without_duplicates)
    except RecursionError as exc:
        raise FileLimitError("the JSON is nested too deeply") from exc


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate key {duplicates[0]!r}")
    return dict(pairs)


def _syntax_problem(exc: Exception, kind: str) -> str:
    return f"not valid {kind.upper()}: " + " ".join(str(exc).split())


def load_behavior_dir(path: str | os.PathLike[str]) -> dict[str, BehaviorDocument]:
    """Load every behavior file of a folder (e.g. ``behaviors/``), named by file stem.

    Files with other suffixes (README.md) are ignored.

    Args:
        path: the folder.

    Returns:
        Behavior name -> document, sorted by name.

    Raises:
        BehaviorInvalidError: the first file (in name order) that is invalid, is named against
            ``BEHAVIOR_NAME_PATTERN``, or shares its name with another file.
        OSError: the folder or a file cannot be read.
    """
    documents: dict[str, BehaviorDocument] = {}
    for file in sorted(Path(path).iterdir()):
        if file.suffix.lower() not in BEHAVIOR_FILE_SUFFIXES or not file.is_file():
            continue
        name_problem = _name_problem(file.stem, documents)
        if name_problem:
            raise behavior_invalid_error(str(file), [{"path": "", "problem": name_problem}])
        documents[file.stem] = load_behavior_file(file)
    return documents


def _name_problem(name: str, loaded: dict[str, BehaviorDocument]) -> str | None:
    if not re.fullmatch(BEHAVIOR_NAME_PATTERN, name):
        return f"file name {name!r} is not a behavior name (pattern {BEHAVIOR_NAME_PATTERN})"
    if name in loaded:
        return f"another file already defines behavior {name!r}"
    return None
