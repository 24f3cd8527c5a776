"""The CDK CLI that ``make cdk-cli`` pins can read what the locked aws-cdk-lib writes (no download)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aws_cdk as cdk

from cdk.bundling import REPO_ROOT


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _makefile_pin(name: str) -> str:
    found = re.search(rf"^{name} := (\S+)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, f"the Makefile no longer pins {name}"
    return found.group(1)


def test_pinned_cdk_cli_is_at_least_the_minimum_cli_version_the_locked_library_declares(app: cdk.App) -> None:
    # aws-cdk-lib writes the oldest CLI that understands its cloud assembly into manifest.json; an older CLI
    # may still parse the schema major and silently ignore what it does not know.
    manifest = json.loads((Path(app.synth().directory) / "manifest.json").read_text())
    assert _version(_makefile_pin("AWS_CDK_VERSION")) >= _version(manifest["minimumCliVersion"])
