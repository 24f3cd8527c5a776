"""How a bench script runs: its entry point and the pinned worker it measures, one JSON line between them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from common import CLIENT_CORE, pinned

WORKER_FLAG = "--worker"


def run_worker(script: Path, args: Sequence[str], timeout: float) -> dict[str, object]:
    """Run ``python script --worker args`` on CLIENT_CORE; its last stdout line is a JSON result (stderr shows)."""
    argv = pinned(CLIENT_CORE, [sys.executable, str(script), WORKER_FLAG, *args])
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker {script.name} {' '.join(args)} failed with exit code {done.returncode}")
    return dict(json.loads(lines[-1]))


def print_result(result: Mapping[str, object]) -> None:
    """Answer ``run_worker`` from the worker side (flushed: some workers leave with ``os._exit``)."""
    print(json.dumps(result), flush=True)


def run_bench(doc: str | None, main: Callable[[], int], worker_main: Callable[[list[str]], None]) -> NoReturn:
    """The ``__main__`` of a bench script: ``--worker args`` runs its worker side, no argument its whole run.

    Args:
        doc: the script's docstring, shown by ``--help``.
        main: the run, measuring peers side by side; returns the exit code.
        worker_main: the measured side, started by ``run_worker`` with the arguments after ``--worker``.
    """
    if sys.argv[1:2] == [WORKER_FLAG]:
        worker_main(sys.argv[2:])
        sys.exit(0)
    argparse.ArgumentParser(description=doc).parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.exit(main())
