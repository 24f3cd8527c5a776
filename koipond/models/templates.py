"""Templated strings of behaviors: ``{variable}`` placeholders, parsed once."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import NamedTuple

from pydantic import JsonValue

TEMPLATE_VARIABLES: Mapping[str, str] = MappingProxyType(
    {
        "koi.index": "this koi's 0-based index in the test; koi 0 acts as the workspace admin",
        "koi.id": "stable koi identifier (test id and index), unique across tests",
        "user.id": "id of the user this koi acts as (user number koi.index of the workspace)",
        "user.name": "name of the user this koi acts as",
        "workspace": "id of the workspace (team) the koi's users belong to",
        "channel.id": "id of the channel of this call: one of the koi's channels, or the formation's channel",
        "channel.name": "name of that same channel",
        "message.ts": "ts of the newest message the koi has seen in channel.id; the call is skipped if none",
        "random.int": "uniform random integer in [0, 1000000000), fresh per call",
        "random.uuid": "random UUID4, fresh per call (e.g. a client_msg_id)",
        "random.text": "a few random words, like a chat message, fresh per call",
        "now.ts": "current Unix time as a Slack-style ts with microseconds, e.g. 1718000000.123456",
    }
)
"""Every variable a ``{placeholder}`` may name, with its meaning; values are always rendered as strings."""


class TemplateError(ValueError):
    """A template is malformed or names a variable with no value.

    A ``ValueError`` so that pydantic reports it as a validation error of the field holding it.
    """


class TemplatePart(NamedTuple):
    """One piece of a parsed template: literal text, or the name of a variable."""

    text: str
    is_variable: bool


_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]|[^{}]+")
_VARIABLE_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")


@functools.lru_cache(maxsize=4096)
def parse_template(template: str) -> tuple[TemplatePart, ...]:
    """Split a template into literal text and ``{variable}`` placeholders (cached: parsed once).

    Args:
        template: text where ``{name}`` is a placeholder and ``{{``/``}}`` are literal braces.

    Returns:
        The parts in order; adjacent literal text is merged.

    Raises:
        TemplateError: a brace is unbalanced or a placeholder is not a variable name.
    """
    parts: list[TemplatePart] = []
    for match in _TEMPLATE_TOKEN.finditer(template):
        token, name = match.group(0), match.group(1)
        if name is not None:
            if not _VARIABLE_NAME.fullmatch(name):
                raise TemplateError(
                    f"invalid placeholder {token!r} at position {match.start()}; "
                    "write literal braces as '{{' and '}}'"
                )
            parts.append(TemplatePart(name, is_variable=True))
        elif token in ("{", "}"):
            raise TemplateError(
                f"unbalanced {token!r} at position {match.start()}; write a literal brace as {token * 2!r}"
            )
        else:
            text = token[0] if token in ("{{", "}}") else token
            if parts and not parts[-1].is_variable:
                text = parts.pop().text + text
            parts.append(TemplatePart(text, is_variable=False))
    return tuple(parts)


def template_variables(template: str) -> tuple[str, ...]:
    """List the variables a template uses, in order of first use, without repeats.

    Raises:
        TemplateError: the template is malformed.
    """
    return tuple(dict.fromkeys(part.text for part in parse_template(template) if part.is_variable))


def render_template(template: str, variables: Mapping[str, str]) -> str:
    """Replace each placeholder by its value; values are inserted verbatim (never re-rendered).

    Args:
        template: the template text.
        variables: value of each variable, e.g. ``{"channel.id": "C042"}``.

    Returns:
        The rendered text.

    Raises:
        TemplateError: the template is malformed or uses a variable missing from ``variables``.
    """
    try:
        return "".join(variables[p.text] if p.is_variable else p.text for p in parse_template(template))
    except KeyError as exc:
        raise TemplateError(f"no value for template variable {exc.args[0]!r} in {template!r}") from None


def escape_template(text: str) -> str:
    """Return a template that renders to exactly ``text`` (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def render_json(value: JsonValue, variables: Mapping[str, str]) -> JsonValue:
    """Render every string inside a JSON-like value (keys stay literal; non-strings unchanged).

    Raises:
        TemplateError: as ``render_template``.
    """
    if isinstance(value, str):
        return render_template(value, variables)
    if isinstance(value, list):
        return [render_json(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: render_json(item, variables) for key, item in value.items()}
    return value


def json_strings(value: JsonValue, path: str) -> Iterator[tuple[str, str]]:
    """Yield ``(path, string)`` for every string inside a JSON-like value, as ``render_json`` visits them.

    Args:
        value: the JSON-like value.
        path: the path of ``value``; keys are appended as ``.key`` and list items as ``[i]``.
    """
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from json_strings(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from json_strings(item, f"{path}.{key}")


def template_problems(template: str) -> list[str]:
    """List the problems of one template string: its syntax error, else each unknown variable.

    Args:
        template: the template text.

    Returns:
        One message per problem; empty when the template is valid.
    """
    try:
        names = template_variables(template)
    except TemplateError as exc:
        return [str(exc)]
    return [_unknown_variable_problem(name) for name in names if name not in TEMPLATE_VARIABLES]


def _unknown_variable_problem(name: str) -> str:
    hint = difflib.get_close_matches(name, TEMPLATE_VARIABLES, n=1)
    suggestion = f"did you mean {hint[0]!r}? " if hint else ""
    return f"unknown template variable {name!r}; {suggestion}allowed: {', '.join(TEMPLATE_VARIABLES)}"
