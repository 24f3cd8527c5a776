"""The ``koipond`` verbs: each named once in ``koipond_cli.main.COMMANDS``, imported only when it runs."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from koipond_cli.main import COMMANDS, cli


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_every_verb_resolves_to_its_click_command(verb: str) -> None:
    command = cli.get_command(click.Context(cli), verb)
    assert isinstance(command, click.Command)
    assert command.name == verb


def test_help_lists_every_verb() -> None:
    assert cli.list_commands(click.Context(cli)) == sorted(COMMANDS)


def test_an_unknown_verb_is_a_usage_error() -> None:
    assert cli.get_command(click.Context(cli), "swim") is None


def test_a_client_verb_does_not_import_a_pond_or_a_school() -> None:
    """``koipond test ...`` must not pay for boto3, moto or a School's engine (they took over a second)."""
    script = (
        "import sys\n"
        "from koipond_cli.main import cli\n"
        "try:\n"
        "    cli.main(['test', '--help'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = ('boto3', 'moto', 'school_container', 'local_pond', 'koipond_cli.run_command')\n"
        "    print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert "Start and steer load tests" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"
