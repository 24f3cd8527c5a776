"""One synthesis for the whole infra suite; assets are staged without bundling (no pip, no network)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from cdk.app import build_app

# CDK's own switch: bundle no stack's assets, only fingerprint them.
NO_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


@pytest.fixture(scope="session")
def app() -> cdk.App:
    return build_app(NO_BUNDLING)


@pytest.fixture(scope="session")
def stack(app: cdk.App) -> cdk.Stack:
    child = app.node.find_child("koipond-dev")
    assert isinstance(child, cdk.Stack)
    return child


@pytest.fixture(scope="session")
def template(stack: cdk.Stack) -> assertions.Template:
    return assertions.Template.from_stack(stack)
