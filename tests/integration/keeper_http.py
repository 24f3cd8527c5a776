"""The Keeper's Lambda handler behind a real local HTTP server, and the CLI pointed at it (CLI tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from click.testing import CliRunner, Result

from koipond_cli.main import cli
from local_pond.lambda_http import LambdaHttpServer
from tests.conftest import ADMIN_TOKEN


@contextmanager
def keeper_over_http() -> Iterator[str]:
    """Serve the injected Keeper (see ``injected_keeper``) on a free loopback port; yields its URL."""
    from lambdas.keeper_api.handler import lambda_handler

    server = LambdaHttpServer("127.0.0.1", 0, lambda_handler, "keeper")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def koipond(url: str, *args: str) -> Result:
    """Run a client verb against ``url`` as the bootstrap admin."""
    return CliRunner().invoke(cli, ["--keeper-url", url, "--token", ADMIN_TOKEN, *args], terminal_width=200)
