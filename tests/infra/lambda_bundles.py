"""Lambda bundles as ``cdk deploy`` builds them, and each one's handler run in an isolated interpreter.

The app is synthesized by the very command ``cdk.json`` names, with bundling on, into a cache under
``.cache/`` (CDK skips an asset whose folder exists, and each asset's hash covers its sources and
``uv.lock``), so only changed bundles are rebuilt on the next run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdk.bundling import REPO_ROOT

CACHE = REPO_ROOT / ".cache" / "lambda-bundles"
RUNTIME_SCRIPT = Path(__file__).with_name("bundle_runtime.py")
# Lambda's quota for a function's unzipped code and layers together.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# Never imported by a Lambda: the CLI, its terminal stack, the School's event loop and HTTP client.
NEVER_IN_A_LAMBDA = ("click", "rich", "uvloop", "pyreqwest", "httptools", "moto")
STACK = "koipond-dev"


def path_without_docker() -> str:
    """``PATH`` minus every folder holding a ``docker``: synthesis must never need it."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not shutil.which("docker", path=d))


def synth_env(outdir: Path, context: Mapping[str, Any]) -> dict[str, str]:
    """The environment the CDK CLI gives the app command, with Docker unavailable."""
    return {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps(context),
        # What the CDK CLI sets for the app it runs (and what uv misreads as "force colour").
        "FORCE_COLOR": "0",
        # CDK calls $CDK_DOCKER for image assets; /bin/false fails any call, so success proves there was none.
        "CDK_DOCKER": "/bin/false",
        "PATH": path_without_docker(),
    }


def cdk_json_context(**extra: Any) -> dict[str, Any]:
    """The context ``cdk synth`` passes from ``cdk.json``, plus ``extra`` as ``-c`` would."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return {**context, **extra}


def app_command() -> list[str]:
    """``cdk.json``'s ``app``, with this interpreter (the same ``.venv``) in place of its relative path."""
    command = json.loads((REPO_ROOT / "cdk.json").read_text())["app"].split()
    assert command[0].endswith("python"), command
    return [sys.executable, *command[1:]]


def synthesize_with_bundling(outdir: Path, context: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run the app as ``cdk synth``/``cdk deploy`` do, building every Lambda asset; stale assets are pruned."""
    outdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        app_command(), cwd=REPO_ROOT, env=synth_env(outdir, context), capture_output=True, text=True, timeout=1200
    )
    if done.returncode != 0:
        raise AssertionError(f"synthesis with bundling failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    _prune_stale_assets(outdir)
    return done


def _prune_stale_assets(outdir: Path) -> None:
    """Drop asset folders no manifest of this synthesis names, so the cache holds one build per function."""
    named = {
        entry["source"].get("path") or entry["source"].get("directory")
        for manifest in outdir.glob("*.assets.json")
        for kind in ("files", "dockerImages")
        for entry in json.loads(manifest.read_text()).get(kind, {}).values()
    }
    for stale in outdir.glob("asset.*"):
        if stale.name not in named:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()


@dataclass(frozen=True)
class BundledFunction:
    """A Python function of the synthesized stack and the asset folder its code was built into."""

    logical_id: str
    handler: str
    runtime: str
    asset: Path
    environment: dict[str, Any]  # as in the template: strings or CloudFormation references


def bundled_functions(outdir: Path) -> list[BundledFunction]:
    """Every Python Lambda function of the stack, with its asset folder (from the asset manifest)."""
    template = json.loads((outdir / f"{STACK}.template.json").read_text())
    files = json.loads((outdir / f"{STACK}.assets.json").read_text())["files"]
    functions = []
    for logical_id, resource in template["Resources"].items():
        props = resource["Properties"]
        if resource["Type"] != "AWS::Lambda::Function" or not props.get("Runtime", "").startswith("python"):
            continue
        asset_hash = props["Code"]["S3Key"].removesuffix(".zip")
        functions.append(
            BundledFunction(
                logical_id=logical_id,
                handler=props["Handler"],
                runtime=props["Runtime"],
                asset=outdir / files[asset_hash]["source"]["path"],
                environment=props.get("Environment", {}).get("Variables", {}),
            )
        )
    return functions


def unzipped_size(asset: Path) -> int:
    """What Lambda counts against its unzipped limit: the bytes of every file in the asset."""
    return sum(path.stat().st_size for path in asset.rglob("*") if path.is_file() and not path.is_symlink())


def resolve_environment(function: BundledFunction, local: Mapping[str, str]) -> dict[str, str]:
    """The function's environment as deployed, each reference replaced by its local stand-in.

    Raises:
        AssertionError: a variable is a CloudFormation reference this test has no local value for.
    """
    resolved = {}
    for name, value in function.environment.items():
        if name in local:
            resolved[name] = local[name]
        elif isinstance(value, str):
            resolved[name] = value
        else:
            raise AssertionError(f"{function.logical_id}: {name} is {value}; give the test a local value for it")
    return resolved


class IsolatedHandler:
    """One warm execution environment of a bundle: its handler imported once, invoked per event."""

    def __init__(self, process: subprocess.Popen[str], function: BundledFunction, log: Path) -> None:
        self.process = process
        self.function = function
        self.log = log  # the handler's own logging (stderr), read when something fails

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self.next_answer(f"{self.function.handler} exited")

    def next_answer(self, failure: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            raise AssertionError(f"{failure}:\n{self.log.read_text()[-6000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, event: Mapping[str, Any], remaining_seconds: float | None = None) -> Any:
        """The handler's return value for ``event``; its traceback as the failure if it raised.

        ``remaining_seconds`` sets the context's deadline (``get_remaining_time_in_millis``; 60 s if None).
        """
        request: dict[str, Any] = {"event": event}
        if remaining_seconds is not None:
            request["remaining_seconds"] = remaining_seconds
        answer = self._ask(request)
        if "error" in answer:
            raise AssertionError(f"{self.function.handler} raised:\n{answer['error']}")
        return answer["result"]

    def module_origins(self) -> dict[str, list[str]]:
        """Loaded modules by origin: ``bundle``, ``stdlib`` and ``elsewhere`` (must be empty)."""
        origins: dict[str, list[str]] = self._ask({"report": True})["modules"]
        return origins


@contextmanager
def isolated_handler(function: BundledFunction, env: Mapping[str, str], log: Path) -> Iterator[IsolatedHandler]:
    """Start ``python -I -S`` with only ``function.asset`` importable and ``env`` as its whole environment."""
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(RUNTIME_SCRIPT), str(function.asset), function.handler],
            env=dict(env),
            cwd=function.asset,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    runtime = IsolatedHandler(process, function, log)
    try:
        runtime.next_answer(f"{function.handler} did not import in isolation")
        yield runtime
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
