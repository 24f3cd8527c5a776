"""Click options that several ``koipond`` commands declare alike: where to listen, where to keep state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

_Command = TypeVar("_Command", bound=Callable[..., Any])


def listen_options(
    port: int,
    *,
    host_help: str = "Address to listen on.",
    port_help: str = "Port to listen on.",
    port_type: click.IntRange | type[int] = int,
) -> Callable[[_Command], _Command]:
    """``--host`` (default 127.0.0.1) and ``--port`` (default ``port``), both shown in --help."""

    def decorate(command: _Command) -> _Command:
        with_port = click.option("--port", type=port_type, default=port, show_default=True, help=port_help)(command)
        return click.option("--host", default="127.0.0.1", show_default=True, help=host_help)(with_port)

    return decorate


def state_dir_option(default: str, help_text: str) -> Callable[[_Command], _Command]:
    """``--state-dir``: a directory path, ``default`` shown in --help."""
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        help=help_text,
    )
