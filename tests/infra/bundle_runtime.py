"""A Lambda execution environment in miniature, run as ``python -I -S -B bundle_runtime.py BUNDLE HANDLER``.

Standard library only: it runs before anything but the bundle is importable. ``-I`` keeps the
environment's ``PYTHON*`` variables, the user's site-packages and this file's folder off ``sys.path``;
``-S`` keeps the interpreter's own site-packages off, so the bundle alone must carry every dependency;
``-B`` writes no bytecode into it, as on Lambda, whose code folder is read-only.
It imports the handler once (the cold start), then answers one invocation per JSON line on stdin:
``{"event": ..., "remaining_seconds": 60}`` (the deadline; optional) -> ``{"result": ...}`` or
``{"error": traceback}``; ``{"report": true}`` -> where
every loaded module came from. Handlers log to stdout as on Lambda; that is sent to stderr here so
stdout carries only answers.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import sysconfig
import time
import traceback
import uuid
from pathlib import Path
from typing import Any


class Context:
    """The attributes of Lambda's context object that Powertools reads."""

    def __init__(self, function_name: str, remaining_seconds: float = 60) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bundle-test"
        self._deadline = time.time() + remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def module_origins(bundle: Path) -> dict[str, list[str]]:
    """Loaded modules by origin: the bundle, the standard library, or anywhere else (which must be empty)."""
    this_script = Path(__file__).resolve()
    stdlib = {Path(sysconfig.get_path(name)).resolve() for name in ("stdlib", "platstdlib")}
    origins: dict[str, list[str]] = {"bundle": [], "stdlib": [], "elsewhere": []}
    for name, module in sorted(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue  # built into the interpreter
        path = Path(file).resolve()
        if path == this_script:
            continue  # __main__, and __mp_main__ once multiprocessing is imported
        if path.is_relative_to(bundle):
            origins["bundle"].append(name)
        elif any(path.is_relative_to(root) for root in stdlib) and "site-packages" not in path.parts:
            origins["stdlib"].append(name)
        else:
            origins["elsewhere"].append(f"{name}: {path}")
    return origins


def main() -> None:
    bundle, dotted = Path(sys.argv[1]).resolve(), sys.argv[2]
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # handler logs (Powertools writes JSON lines to stdout) go to stderr
    sys.path.insert(0, str(bundle))
    module_name, _, function_name = dotted.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, Any]
        if request.get("report"):
            answer = {"modules": module_origins(bundle)}
        else:
            try:
                context = Context(request.get("function", function_name), request.get("remaining_seconds", 60))
                answer = {"result": handler(request["event"], context)}
            except Exception:
                answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
