"""Person-written text (tags, reasons, descriptions): bounded in length and free of control characters."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

MAX_TAG_LENGTH = 64
MAX_REASON_LENGTH = 500

# C0 and C1 controls and DEL (terminal escapes, NUL, CR/LF that forge log lines and headers), the
# Unicode line and paragraph separators, and the bidirectional overrides and isolates that make text
# display in another order than it reads ("Trojan Source").
_UNSAFE_BESIDES_LF_AND_TAB = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE_IN_ONE_LINE = re.compile(f"[\t\n{_UNSAFE_BESIDES_LF_AND_TAB}]")
_UNSAFE_IN_LINES = re.compile(f"[{_UNSAFE_BESIDES_LF_AND_TAB}]")


def unsafe_character_problem(text: str, *, lines: bool = False) -> str | None:
    """Say which character makes ``text`` unsafe to store and show, or None when there is none.

    Args:
        text: the text to check.
        lines: allow line feeds and tabs (descriptions, reasons typed into a text area).

    Returns:
        A sentence naming the first offending character (as U+XXXX) and its position.
    """
    found = (_UNSAFE_IN_LINES if lines else _UNSAFE_IN_ONE_LINE).search(text)
    if found is None:
        return None
    what = "control or formatting characters" if lines else "control characters or line breaks"
    return f"must not contain {what}; found U+{ord(found.group()):04X} at position {found.start()}"


def single_line(text: str) -> str:
    """Pydantic validator: refuse control characters, line breaks and tabs."""
    problem = unsafe_character_problem(text)
    if problem is not None:
        raise ValueError(problem)  # pydantic reports a ValueError as a 422 naming the field
    return text


def multi_line(text: str) -> str:
    """Pydantic validator: as :func:`single_line`, but line feeds and tabs are allowed."""
    problem = unsafe_character_problem(text, lines=True)
    if problem is not None:
        raise ValueError(problem)
    return text


SingleLine = AfterValidator(single_line)
MultiLine = AfterValidator(multi_line)

Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH), SingleLine]
"""A test's tag (guard scopes and filters match it): one short line."""

# A reason may span lines: the console asks for it in a text area. A required reason adds min_length=1.
Reason = Annotated[str, StringConstraints(max_length=MAX_REASON_LENGTH), MultiLine]
"""Why a person stopped, resumed, scaled, pulled the emergency stop, or steered a rollout."""
