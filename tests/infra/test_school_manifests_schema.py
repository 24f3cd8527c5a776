"""The School's Kubernetes objects validate, offline and strictly, against the schemas of the cluster's version."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import kubernetes_validate
import pytest
import yaml
from aws_cdk.assertions import Template

from cdk.config import StageConfig
from cdk.school_manifests import (
    DEPLOYMENT_YAML,
    SchoolWorkload,
    school_deployment,
    school_disruption_budget,
    school_namespace,
)
from cdk.schools import KUBERNETES_VERSION, SCHOOL_NAME

CLUSTER_VERSION: str = KUBERNETES_VERSION.version
CHECKED_IN_MANIFESTS = sorted(DEPLOYMENT_YAML.parent.glob("*.yaml"))
DEFAULTS = StageConfig()
# The stack passes CloudFormation tokens for these four; plain strings of the same shape stand in for them.
WORKLOAD = SchoolWorkload(
    namespace=DEFAULTS.school_namespace,
    service_account=SCHOOL_NAME,
    image="123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-hnb659fds-container-assets:0123abcd",
    replicas=DEFAULTS.school_replicas,
    capacity=DEFAULTS.school_capacity,
    keeper_url="https://abcdef1234.execute-api.us-east-1.amazonaws.com",
    token_secret=DEFAULTS.school_token_secret,
    token_bucket="koipond-dev-tokenstoragebucket-0123abcd",
    region="us-east-1",
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The schemas ship inside kubernetes-validate: any attempt to fetch one fails the test."""

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("schema validation tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def assert_valid(manifest: dict[str, Any], source: str) -> None:
    """Strict: a field the schema does not define is an error, as ``kubectl apply --validate=strict`` treats it."""
    try:
        validated = kubernetes_validate.validate(manifest, CLUSTER_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        location = ".".join(str(part) for part in error.path)
        pytest.fail(f"{source}: {manifest['kind']} at {location}: {error.message}", pytrace=False)
    # The library falls back to the newest bundled schemas older than the version asked for; refuse that.
    assert validated == CLUSTER_VERSION, f"validated against Kubernetes {validated}, the cluster runs {CLUSTER_VERSION}"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def test_checked_in_kubectl_manifests_are_valid_for_the_clusters_kubernetes_version() -> None:
    assert CHECKED_IN_MANIFESTS, f"no manifests in {DEPLOYMENT_YAML.parent}"
    for path in CHECKED_IN_MANIFESTS:
        documents = _documents(path)
        assert documents, f"{path.name} holds no Kubernetes object"
        for document in documents:
            assert_valid(document, path.name)


def test_objects_the_cdk_app_applies_are_valid_for_the_clusters_kubernetes_version() -> None:
    for render in (school_namespace, school_deployment, school_disruption_budget):
        assert_valid(render(WORKLOAD), f"cdk.school_manifests.{render.__name__}")


def _misspell_read_only_root_filesystem(deployment: dict[str, Any]) -> None:
    # Non-strict schemas accept this typo, and an API server told to ignore unknown fields drops it: a writable root.
    security = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    security["readOnlyRootFileSystem"] = security.pop("readOnlyRootFilesystem")


def _replicas_as_words(deployment: dict[str, Any]) -> None:
    deployment["spec"]["replicas"] = "two"


@pytest.mark.parametrize(
    ("breakage", "complaint"),
    [
        (_misspell_read_only_root_filesystem, "'readOnlyRootFileSystem' was unexpected"),
        (_replicas_as_words, "'two' is not of type"),
    ],
    ids=["misspelled-field", "wrong-type"],
)
def test_schema_check_fails_a_deployment_with_a_misspelled_field_or_a_wrong_type(
    breakage: Callable[[dict[str, Any]], None], complaint: str
) -> None:
    broken = school_deployment(WORKLOAD)
    breakage(broken)
    with pytest.raises(pytest.fail.Exception, match=complaint):
        assert_valid(broken, "a broken copy")


def _manifest_text(manifest: str | dict[str, Any]) -> str:
    """A template's manifest JSON, each CloudFormation reference (always inside a string) as a placeholder."""
    if isinstance(manifest, str):
        return manifest
    _, parts = manifest["Fn::Join"]
    return "".join(part if isinstance(part, str) else "cfn-reference" for part in parts)


def test_every_manifest_in_the_synthesized_template_is_valid_for_the_clusters_kubernetes_version(
    template: Template,
) -> None:
    resources = template.find_resources("Custom::AWSCDK-EKS-KubernetesResource")
    kinds = []
    for logical_id, resource in resources.items():
        for document in json.loads(_manifest_text(resource["Properties"]["Manifest"])):
            assert_valid(document, logical_id)
            kinds.append(document["kind"])
    assert {"Namespace", "ServiceAccount", "Deployment", "PodDisruptionBudget"} <= set(kinds)
