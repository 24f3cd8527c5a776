"""``cdk synth`` as the CLI runs it, onto an imported cluster, with Docker unavailable: the School image is
only staged (Docker runs at ``cdk deploy``, when assets are published), and cdk-nag stays clean."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all

from cdk.bundling import REPO_ROOT
from tests.infra.lambda_bundles import synth_env

KUBECTL_ROLE = "arn:aws:iam::123456789012:role/schools-kubectl"
OIDC_PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123"
CONTEXT = {
    "aws:cdk:bundling-stacks": [],
    "koipond:eksClusterName": "schools",
    "koipond:eksKubectlRoleArn": KUBECTL_ROLE,
    "koipond:eksOidcProviderArn": OIDC_PROVIDER,
    "koipond:schoolReplicas": "5",
}


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cdk.out")
    subprocess.run(
        [sys.executable, "-m", "cdk.app"],
        cwd=REPO_ROOT,
        env=synth_env(out, CONTEXT),
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def _template(assembly: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((assembly / "koipond-dev.template.json").read_text())
    return template


def test_school_image_is_staged_from_the_dockerfile_context_without_docker(assembly: Path) -> None:
    images = json.loads((assembly / "koipond-dev.assets.json").read_text())["dockerImages"]
    (image,) = images.values()
    assert image["source"]["dockerFile"] == "school_container/Dockerfile"
    staged = assembly / image["source"]["directory"]
    assert (staged / "school_container" / "Dockerfile").is_file()
    assert {p.name for p in staged.iterdir()} == {
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "koipond",
        "lambdas",
        "school_container",
        "behaviors",
    }
    assert not list(staged.rglob("__pycache__"))


def test_imported_cluster_is_driven_through_the_given_role_and_creates_no_cluster(assembly: Path) -> None:
    template = _template(assembly)
    types = {r["Type"] for r in template["Resources"].values()}
    assert "Custom::AWSCDK-EKS-Cluster" not in types
    assert "AWS::EC2::VPC" not in types
    assert "AWS::EKS::Nodegroup" not in types
    assert KUBECTL_ROLE in json.dumps(template)
    rendered = json.dumps(template)
    assert '\\"replicas\\":5' in rendered
    assert OIDC_PROVIDER in rendered  # the service account role trusts the cluster's own OIDC provider


def test_cdk_nag_reports_nothing_unsuppressed_for_an_imported_cluster(assembly: Path) -> None:
    reports = list(assembly.glob("AwsSolutions-*NagReport.csv"))
    assert len(reports) >= 2  # the stack and its kubectl provider
    rows = [row for report in reports for row in csv.DictReader(report.open())]
    assert [f"{r['Rule ID']} {r['Resource ID']}" for r in rows if r["Compliance"] == "Non-Compliant"] == []


def test_cfn_lint_reports_no_error_for_an_imported_cluster(assembly: Path) -> None:
    errors = [
        f"{path.name} {m.rule.id} {m.path}: {m.message}"
        for path in sorted(assembly.glob("*.template.json"))
        for m in lint_all(path.read_text())
        if m.rule.severity == "error"
    ]
    assert errors == []
