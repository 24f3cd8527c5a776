"""Entry point of the ``koipond`` command."""

from __future__ import annotations

import click

import koipond
from koipond import envvars
from koipond_cli import (
    behaviors_commands,
    control_commands,
    pond_commands,
    run_command,
    target_command,
    tests_commands,
    tokens_commands,
)
from koipond_cli.context import CliState
from koipond_cli.deploy_commands import deploy_group, verify_command
from koipond_cli.notification_commands import notifications_group, webhook_sink_command
from koipond_cli.rollout_commands import rollout_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
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
    Client verbs talk to the Keeper named by KOIPOND_KEEPER_URL with KOIPOND_TOKEN.
    """
    ctx.obj = CliState(keeper_url=keeper_url, token=token, as_json=as_json)


pond_commands.register(cli)
cli.add_command(tests_commands.test_group)
cli.add_command(rollout_group)
cli.add_command(control_commands.estop_group)
cli.add_command(control_commands.keys_group)
cli.add_command(behaviors_commands.behaviors_group)
cli.add_command(control_commands.schools_command)
cli.add_command(target_command.target_command)
cli.add_command(run_command.run_command)
cli.add_command(tokens_commands.tokens_group)
cli.add_command(verify_command)
cli.add_command(deploy_group)
cli.add_command(notifications_group)
cli.add_command(webhook_sink_command)


if __name__ == "__main__":
    cli()
