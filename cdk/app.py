"""``cdk synth`` entry point: stage settings come from context (see cdk.json and cdk/README.md)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cdk.config import StageConfig
from cdk.stack import KoipondStack


def build_app(context: dict[str, Any] | None = None) -> cdk.App:
    """The app with one stack ``koipond-<stage>``, checked by cdk-nag's AWS Solutions rules."""
    app = cdk.App(context=context)
    config = StageConfig.from_node(app.node)
    env = cdk.Environment(account=config.account, region=config.region) if config.account or config.region else None
    KoipondStack(app, config.stack_name, config=config, env=env)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app


if __name__ == "__main__":
    build_app().synth()
