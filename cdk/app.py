"""``cdk synth`` entry point: stage settings come from context (see cdk.json for the defaults)."""

from __future__ import annotations

import aws_cdk as cdk

from cdk.stack import KoipondStack


def build_app() -> cdk.App:
    app = cdk.App()
    stage = app.node.try_get_context("koipond:stage") or "dev"
    table_name = app.node.try_get_context("koipond:tableName") or "koipond"
    KoipondStack(app, f"koipond-{stage}", table_name=table_name)
    return app


if __name__ == "__main__":
    build_app().synth()
