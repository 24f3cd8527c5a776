"""The local Keeper: the Keeper API Lambda served over HTTP, and this process's allocator thread.

``koipond keeper`` runs :func:`serve_keeper`; so does the pond, through ``python -m
local_pond.keeper_server --host H --port P``, which skips the CLI's imports: a Keeper restarted
after a crash then answers polls sooner, before its Schools miss enough of them to count as dead.
"""

from __future__ import annotations

import argparse
import signal
import threading

from local_pond.lambda_http import LambdaHttpServer
from local_pond.lambda_runtime import DEFAULT_WORKERS

KEEPER_HANDLER = "lambdas.keeper_api.handler:lambda_handler"


def serve_keeper(host: str, port: int, workers: int = DEFAULT_WORKERS) -> None:
    """Serve the Keeper API until SIGTERM or Ctrl-C, allocating whenever this process holds the lease.

    Raises:
        HandlerFailedError: the first worker process could not import the Keeper's handler.
    """
    server = LambdaHttpServer(host, port, KEEPER_HANDLER, "keeper-api", workers=workers)
    # Every Keeper process competes for the allocator's lease, as Lambda executions do on AWS; one allocates.
    stop_allocating = threading.Event()
    allocator = threading.Thread(target=_allocate_until, args=(stop_allocating,), name="allocator", daemon=True)
    allocator.start()
    # shutdown() waits for the server's loop, which runs in this very thread: call it from another.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"Keeper listening on http://{host}:{port} (OpenAPI at /openapi.json), {workers} workers", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop_allocating.set()
        allocator.join(timeout=10)
        server.server_close()


def _allocate_until(stop: threading.Event) -> None:
    from koipond.composition import get_keeper

    get_keeper().allocator.run_for(float("inf"), stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_pond.keeper_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    args = parser.parse_args(argv)
    serve_keeper(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
