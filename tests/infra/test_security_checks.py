"""The synthesized template passes cdk-nag's AWS Solutions rules and cfn-lint without errors."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Annotations, Match, Template
from cfnlint.api import lint_all


def test_cdk_nag_aws_solutions_reports_no_unsuppressed_error(stack: cdk.Stack) -> None:
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [f"{e.id}: {str(e.entry.data)[:120]}" for e in errors] == []


def test_cdk_nag_reports_no_unsuppressed_warning(stack: cdk.Stack) -> None:
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [f"{w.id}: {str(w.entry.data)[:120]}" for w in warnings] == []


def test_cfn_lint_reports_no_error(template: Template, tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template.to_json()))
    matches = lint_all(path.read_text())
    errors = [f"{m.rule.id} {m.path}: {m.message}" for m in matches if m.rule.severity == "error"]
    assert errors == []


def test_cfn_lint_reports_no_error_in_the_eks_provider_nested_stacks(app: cdk.App) -> None:
    nested = sorted(Path(app.synth().directory).glob("*.nested.template.json"))
    assert nested  # the cluster and kubectl providers
    errors = [
        f"{path.name} {m.rule.id} {m.path}: {m.message}"
        for path in nested
        for m in lint_all(path.read_text())
        if m.rule.severity == "error"
    ]
    assert errors == []
