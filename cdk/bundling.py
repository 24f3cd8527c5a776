"""Lambda code assets built without Docker: ``koipond/`` + one lambda folder + pinned wheels for Lambda."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.11"
# Lambda's python3.11 runtime runs on Amazon Linux 2 (glibc 2.26): manylinux2014 wheels (glibc 2.17) load there.
PLATFORM = "x86_64-manylinux2014"
# Installed in every Lambda but never imported there: the CLI, the pond's web client, the School's loop and HTTP client.
EXCLUDED_REQUIREMENTS = frozenset(
    {"click", "rich", "markdown-it-py", "mdurl", "pygments", "uvloop", "pyreqwest", "httptools"}
)
_IGNORED_PATTERNS = ("__pycache__", "*.pyc", "tests")
_IGNORED = shutil.ignore_patterns(*_IGNORED_PATTERNS)


def export_command(uv: str) -> list[str]:
    """``uv export`` of the runtime dependencies pinned in ``uv.lock`` (no dev group, no extras, no project)."""
    # The CDK CLI runs the app with FORCE_COLOR=0, which uv reads as "force colour": never colour, no annotations.
    return [
        uv,
        "export",
        "--color",
        "never",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "--no-header",
        "--no-annotate",
    ]


def runtime_requirements(exported: str) -> list[str]:
    """The exported pins minus what Lambdas never import; comments and markers' blank lines dropped."""
    kept = []
    for line in exported.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        name = line.split("==", 1)[0].split("[", 1)[0].strip().lower().replace("_", "-")
        if name not in EXCLUDED_REQUIREMENTS:
            kept.append(line)
    return kept


def install_command(uv: str, requirements_file: str, output_dir: str, python: str = sys.executable) -> list[str]:
    """``uv pip install`` of Lambda's platform wheels into the asset: no pip needed, nothing compiled here.

    ``--no-deps``: the exported pins are already the whole locked closure, so the asset holds exactly
    those versions and nothing the exclusions removed comes back as someone's dependency.
    """
    return [
        uv,
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--link-mode",
        "copy",  # the asset must not share inodes with uv's cache
        "--target",
        output_dir,
        "--python",
        python,
        "--python-platform",
        PLATFORM,
        "--python-version",
        PYTHON_VERSION,
        "--only-binary",
        ":all:",
        "--requirement",
        requirements_file,
    ]


def copy_sources(lambda_name: str, output_dir: Path, root: Path = REPO_ROOT) -> None:
    """Copy the shared core and one lambda package so ``lambdas.<name>.handler`` imports as in the repo."""
    shutil.copytree(root / "koipond", output_dir / "koipond", ignore=_IGNORED, dirs_exist_ok=True)
    (output_dir / "lambdas").mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "lambdas" / "__init__.py", output_dir / "lambdas" / "__init__.py")
    shutil.copytree(
        root / "lambdas" / lambda_name, output_dir / "lambdas" / lambda_name, ignore=_IGNORED, dirs_exist_ok=True
    )


def source_files(lambda_name: str, root: Path = REPO_ROOT) -> list[Path]:
    """Every file ``copy_sources`` puts in the asset: code and data alike (the Keeper's console is html/css/js)."""
    sources = [root / "koipond", root / "lambdas" / lambda_name]
    files = (path for source in sources for path in source.rglob("*") if path.is_file() and not _ignored(path, source))
    return [root / "lambdas" / "__init__.py", *sorted(files)]


def _ignored(path: Path, source: Path) -> bool:
    return any(
        fnmatch.fnmatch(part, pattern) for part in path.relative_to(source).parts for pattern in _IGNORED_PATTERNS
    )


def source_hash(lambda_name: str, root: Path = REPO_ROOT) -> str:
    """A digest of everything the asset is built from, so a change to any of it deploys new code."""
    digest = hashlib.sha256()
    for path in [root / "uv.lock", *source_files(lambda_name, root)]:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class BundlingError(RuntimeError):
    """A Lambda asset cannot be built on this machine (what is missing is named in the message)."""


def find_uv(root: Path = REPO_ROOT, environ: Mapping[str, str] = os.environ) -> str:
    """The uv that builds assets: ``$UV``, else the one ``make`` pins in ``.tools/``, else uv on ``PATH``.

    Raises:
        BundlingError: no uv anywhere; ``make env`` (or ``pip install uv``) provides one.
    """
    pinned = root / ".tools" / "bin" / "uv"
    on_path = shutil.which("uv", path=environ.get("PATH"))
    uv = environ.get("UV") or (str(pinned) if pinned.is_file() else None) or on_path
    if not uv:
        raise BundlingError("Lambda bundling needs uv: run `make env` (installs it in .tools/) or set UV=/path/to/uv")
    return uv


@jsii.implements(cdk.ILocalBundling)
class LocalPythonBundling:
    """Builds the asset on this machine; CDK falls back to Docker only if this returns False."""

    def __init__(self, lambda_name: str, root: Path = REPO_ROOT) -> None:
        self.lambda_name = lambda_name
        self.root = root

    def try_bundle(self, output_dir: str, *_args: Any, **_options: Any) -> bool:
        uv = find_uv(self.root)
        exported = subprocess.run(  # noqa: S603 - fixed argv, no shell
            export_command(uv), cwd=self.root, check=True, capture_output=True, text=True
        ).stdout
        with tempfile.TemporaryDirectory() as tmp:
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text("\n".join(runtime_requirements(exported)) + "\n")
            subprocess.run(install_command(uv, str(requirements), output_dir), check=True)  # noqa: S603
        copy_sources(self.lambda_name, Path(output_dir), self.root)
        return True


def lambda_code(lambda_name: str) -> lambda_.Code:
    """The asset of ``lambdas/<lambda_name>``; under ``aws:cdk:bundling-stacks=[]`` (tests) nothing is built."""
    return lambda_.Code.from_asset(
        str(REPO_ROOT / "lambdas" / lambda_name),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=source_hash(lambda_name),
        bundling=cdk.BundlingOptions(
            # Never pulled: the local bundler always succeeds or raises.
            image=lambda_.Runtime.PYTHON_3_11.bundling_image,
            local=LocalPythonBundling(lambda_name),
        ),
    )
