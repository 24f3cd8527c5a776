"""``koipond aws``, ``keeper``, ``up`` and ``demo``: run the pond's processes on this machine."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from koipond import envvars
from koipond.cli.context import console, err_console
from koipond.pond.pond import LocalPond, PondConfig
from koipond.pond.processes import free_port
from koipond.settings import get_settings

KEEPER_HANDLER = "lambdas.keeper_api.handler:lambda_handler"


@click.command("aws")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=4566, show_default=True, help="Port to listen on.")
def aws_command(host: str, port: int) -> None:
    """Run the embedded AWS (moto server) and provision the table, token queues, KMS key and bucket.

    State lives in this process only: other pond processes may restart freely, this one may not.
    """
    from koipond.pond.aws import ProvisionedResources, serve

    def ready(resources: ProvisionedResources) -> None:
        console.print(
            f"embedded AWS ready at http://{host}:{port}: table {resources.table}, "
            f"queue {resources.queue_url}, bucket {resources.bucket}"
        )

    serve(get_settings(), host, port, ready)


@click.command("keeper")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8700, show_default=True, help="Port to listen on.")
def keeper_command(host: str, port: int) -> None:
    """Serve the Keeper API Lambda over HTTP, one API Gateway v2 event per request.

    Reads KOIPOND_AWS_ENDPOINT (the embedded AWS) and KOIPOND_ADMIN_TOKEN (bootstrap admin).
    """
    from koipond.pond.lambda_http import LambdaHttpServer, load_handler

    if not get_settings().aws_endpoint:
        err_console.print(f"note: {envvars.AWS_ENDPOINT} is unset, so the Keeper uses real AWS")
    server = LambdaHttpServer(host, port, load_handler(KEEPER_HANDLER), "keeper-api")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    console.print(f"Keeper listening on http://{host}:{port} (OpenAPI at /openapi.json)")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@click.command("up")
@click.option("--aws-port", type=int, default=4566, show_default=True, help="Embedded AWS port (0: any free port).")
@click.option("--keeper-port", type=int, default=8700, show_default=True, help="Keeper port (0: any free port).")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".pond"),
    show_default=True,
    help="Where logs go.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.2, 300),
    default=5.0,
    show_default=True,
    help="School poll interval, seconds.",
)
def up_command(aws_port: int, keeper_port: int, state_dir: Path, poll_interval: float) -> None:
    """Start a local pond (embedded AWS + Keeper) and keep it running until Ctrl-C.

    Prints the URLs and an admin token (KOIPOND_ADMIN_TOKEN if set, else a new random one).
    """
    settings = get_settings()
    config = PondConfig(
        aws_port=aws_port or free_port(),
        keeper_port=keeper_port or free_port(),
        state_dir=state_dir,
        poll_interval_seconds=poll_interval,
    )
    if settings.admin_token:
        config.admin_token = settings.admin_token.get_secret_value()
    pond = LocalPond(config)
    with console.status("starting the embedded AWS and the Keeper..."):
        try:
            pond.start()
        except RuntimeError as exc:
            pond.stop()
            raise click.ClickException(str(exc)) from exc
    _print_pond(pond)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: it is ignored when started with `&`
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            for process in (pond.aws, pond.keeper):
                if not process.running:
                    err_console.print(
                        f"[red]{process.name} exited[/]; its log: {process.log_path}\n{process.log_tail()}"
                    )
                    stop.set()
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping the pond...")
        pond.stop()


def _print_pond(pond: LocalPond) -> None:
    console.print("[bold green]the pond is up[/]")
    console.print(f"  embedded AWS  {pond.aws_url}")
    console.print(f"  Keeper        {pond.keeper_url}   (OpenAPI: {pond.keeper_url}/openapi.json)")
    console.print(f"  logs          {pond.config.state_dir / 'logs'}")
    console.print("use it from another shell:")
    for name, value in pond.client_env().items():
        console.print(f"  export {name}={value}")
    console.print("press Ctrl-C to stop")


@click.command("demo")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".pond/demo"),
    show_default=True,
    help="Where logs go.",
)
def demo_command(state_dir: Path) -> None:
    """Run the main job on a fresh local pond, narrate it, and exit 0 when every step worked."""
    from koipond.client.keeper import KeeperApiError
    from koipond.pond.demo import DemoFailedError, run_demo

    try:
        run_demo(state_dir)
    except (DemoFailedError, KeeperApiError, RuntimeError) as exc:
        raise click.ClickException(f"demo failed: {exc}; logs are in {state_dir / 'logs'}") from exc


def register(group: Any) -> None:
    for command in (aws_command, keeper_command, up_command, demo_command):
        group.add_command(command)
