"""A behavior file read for a command (every problem explained, exit 1), and rates written for people."""

from __future__ import annotations

from pathlib import Path

import click

from koipond.behavior_files import load_behavior_file
from koipond.errors import BehaviorInvalidError
from koipond.models.behavior import BehaviorDocument


def load_or_explain(file: Path) -> BehaviorDocument:
    """The behavior in ``file``, or a CLI error (exit 1) listing every problem with its path."""
    try:
        return load_behavior_file(file)
    except BehaviorInvalidError as exc:
        raise click.ClickException(_problems_message(exc)) from exc


def _problems_message(exc: BehaviorInvalidError) -> str:
    """The error's message and every problem, one per line."""
    problems = "\n".join(f"  - {p['path']}: {p['problem']}" for p in exc.details.get("problems", []))
    return f"{exc.message}\n{problems}".rstrip()


def number(value: float) -> str:
    """A rate for people: ``1,056``, ``38.4``, ``4.17``, ``0.278``, ``0.000278``."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"
