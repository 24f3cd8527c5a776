"""Entry point of the ``koipond`` command.

Each verb's module is imported only when that verb runs (or ``--help`` lists them all): the verbs import
very different things (boto3 and moto for a pond, a School's engine for ``run``, the API client for the
rest), and importing every one of them made every command start in over a second.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

import koipond
from koipond import envvars
from koipond_cli.context import CliState

# Verb -> "module:attribute" of its click command or group.
COMMANDS: Mapping[str, str] = {
    "aws": "koipond_cli.pond_commands:aws_command",
    "keeper": "koipond_cli.pond_commands:keeper_command",
    "up": "koipond_cli.pond_commands:up_command",
    "demo": "koipond_cli.pond_commands:demo_command",
    "school": "koipond_cli.pond_commands:school_command",
    "guard": "koipond_cli.pond_commands:guard_command",
    "tick": "koipond_cli.pond_commands:tick_command",
    "token-worker": "local_pond.token_worker:token_worker_command",
    "test": "koipond_cli.tests_commands:test_group",
    "rollout": "koipond_cli.rollout_commands:rollout_group",
    "estop": "koipond_cli.control_commands:estop_group",
    "keys": "koipond_cli.control_commands:keys_group",
    "behaviors": "koipond_cli.behaviors_commands:behaviors_group",
    "schools": "koipond_cli.control_commands:schools_command",
    "target": "koipond_cli.target_command:target_command",
    "run": "koipond_cli.run_command:run_command",
    "tokens": "koipond_cli.tokens_commands:tokens_group",
    "verify": "koipond_cli.deploy_commands:verify_command",
    "deploy": "koipond_cli.deploy_commands:deploy_group",
    "notifications": "koipond_cli.notification_commands:notifications_group",
    "webhook-sink": "koipond_cli.notification_commands:webhook_sink_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands (``COMMANDS``) are imported when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        known = super().get_command(ctx, cmd_name)
        if known is not None or cmd_name not in COMMANDS:
            return known
        module, _, attribute = COMMANDS[cmd_name].partition(":")
        command: Any = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command) or command.name != cmd_name:
            raise RuntimeError(f"{COMMANDS[cmd_name]} is not the click command {cmd_name!r}")
        self.add_command(command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(koipond.__version__, prog_name="koipond")
@click.option("--keeper-url", envvar=envvars.KEEPER_URL, help=f"Keeper base URL [env {envvars.KEEPER_URL}].")
@click.option("--token", envvar=envvars.TOKEN, help=f"API token [env {envvars.TOKEN}].")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables.")
@click.pass_context
def cli(ctx: click.Context, keeper_url: str | None, token: str | None, as_json: bool) -> None:
    """koipond: continuous load testing with always-on simulated clients (koi).

    \b
    Run a local pond:   koipond up        (then use the client verbs below)
    See it work:        koipond demo
    Try a behavior:     koipond run FILE --target URL   (no pond needed)
    Client verbs talk to the Keeper named by KOIPOND_KEEPER_URL with KOIPOND_TOKEN.
    """
    ctx.obj = CliState(keeper_url=keeper_url, token=token, as_json=as_json)


if __name__ == "__main__":
    cli()
