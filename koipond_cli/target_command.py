"""``koipond target``: run the bundled Slack-like target koi swim against."""

from __future__ import annotations

import asyncio
import secrets

import click

from koipond_cli.context import console, err_console
from koipond_cli.options import listen_options
from slacklike_target.context import ADMIN_TOKEN_ENV, SECRET_ENV, TargetConfig
from slacklike_target.realtime import DEFAULT_MAX_BUFFER_BYTES
from slacklike_target.state import DEFAULT_MAX_MESSAGES_PER_CHANNEL


@click.command("target")
@listen_options(8800, port_help="Port (0: any free).", port_type=click.IntRange(0, 65535))
@click.option(
    "--secret",
    envvar=SECRET_ENV,
    help=f"HMAC secret of user tokens; keep it to keep tokens valid across restarts [env {SECRET_ENV}]. "
    "Default: a random one, printed.",
)
@click.option(
    "--admin-token",
    envvar=ADMIN_TOKEN_ENV,
    help=f"Bearer token of admin.tokens.mint and /admin/faults [env {ADMIN_TOKEN_ENV}]. "
    "Default: a random one, printed.",
)
@click.option("--seed", type=int, default=None, help="Seed of fault injection decisions, for reproducible runs.")
@click.option(
    "--max-messages-per-channel",
    type=click.IntRange(1, 1_000_000),
    default=DEFAULT_MAX_MESSAGES_PER_CHANNEL,
    show_default=True,
    help="Messages kept per channel; older ones are forgotten.",
)
@click.option(
    "--ws-heartbeat",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    help="Websocket ping interval, seconds; a client that stops answering is closed.",
)
@click.option(
    "--ws-max-buffer-bytes",
    type=click.IntRange(0, 1 << 30),
    default=DEFAULT_MAX_BUFFER_BYTES,
    show_default=True,
    help="A websocket client with more unsent bytes than this misses events (counted as dropped).",
)
def target_command(
    host: str,
    port: int,
    secret: str | None,
    admin_token: str | None,
    seed: int | None,
    max_messages_per_channel: int,
    ws_heartbeat: float,
    ws_max_buffer_bytes: int,
) -> None:
    """Serve the Slack-like target: Web API under /api/, websocket at /ws, /metrics, /admin/faults.

    Tokens are stateless (xoxp-<workspace>-<user index>-<hmac>): any user of any workspace exists.
    """
    from slacklike_target.server import run_forever, serve

    if not secret:
        secret = secrets.token_hex(32)
        err_console.print(f"note: {SECRET_ENV} is unset: tokens use a random secret and die with this process")
    if not admin_token:
        admin_token = secrets.token_urlsafe(24)
        console.print(f"admin token (for admin.tokens.mint and /admin/faults): {admin_token}")
    config = TargetConfig(
        secret=secret,
        admin_token=admin_token,
        seed=seed,
        max_messages_per_channel=max_messages_per_channel,
        websocket_heartbeat_seconds=ws_heartbeat,
        websocket_max_buffer_bytes=ws_max_buffer_bytes,
    )

    def ready(url: str) -> None:
        loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
        console.print(f"target listening on {url} ({loop}): Web API {url}/api/, websocket {url}/ws", soft_wrap=True)

    run_forever(serve(config, host, port, ready))
