"""Schools on EKS: the Deployment derived from the checked-in manifest, IRSA scope, a new cluster's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Match, Template

from cdk.app import build_app
from cdk.school_manifests import (
    DEPLOYMENT_YAML,
    SchoolWorkload,
    school_deployment,
    school_disruption_budget,
)
from koipond import envvars

WORKLOAD = SchoolWorkload(
    namespace="koipond",
    service_account="koipond-school",
    image="123456789012.dkr.ecr.us-east-1.amazonaws.com/schools:abc",
    replicas=7,
    capacity=4000,
    keeper_url="https://keeper.example.org",
    token_secret="school-key",
    token_bucket="tokens-bucket",
    region="eu-west-1",
)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in _container(deployment)["env"]}


def test_deployment_takes_the_stage_values_and_keeps_the_reference_probes_and_resources() -> None:
    deployment = school_deployment(WORKLOAD)
    reference = yaml.safe_load(DEPLOYMENT_YAML.read_text())
    container, reference_container = _container(deployment), _container(reference)
    assert deployment["metadata"]["namespace"] == "koipond"
    assert deployment["spec"]["replicas"] == 7
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "koipond-school"
    assert container["image"] == WORKLOAD.image
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for key in ("resources", "livenessProbe", "readinessProbe", "securityContext", "ports"):
        assert container[key] == reference_container[key]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9100"


def test_deployment_env_points_at_the_keeper_and_bucket_and_takes_the_token_from_a_secret() -> None:
    env = _env(school_deployment(WORKLOAD))
    assert env[envvars.KEEPER_URL] == "https://keeper.example.org"
    assert env[envvars.TOKEN_BUCKET] == "tokens-bucket"
    assert env[envvars.AWS_REGION] == "eu-west-1"
    assert env["KOIPOND_SCHOOL_CAPACITY"] == "4000"
    assert env[envvars.TOKEN] == {"secretKeyRef": {"name": "school-key", "key": "token"}}
    assert env["KOIPOND_SCHOOL_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_reference_manifest_is_not_modified_by_deriving_from_it() -> None:
    school_deployment(WORKLOAD)
    assert school_deployment(WORKLOAD) == school_deployment(WORKLOAD)
    assert _container(yaml.safe_load(DEPLOYMENT_YAML.read_text()))["image"] == "koipond-school:latest"


def test_disruption_budget_selects_the_school_pods_and_allows_one_down() -> None:
    budget = school_disruption_budget(WORKLOAD)
    pods = school_deployment(WORKLOAD)["spec"]["template"]["metadata"]["labels"]
    assert budget["kind"] == "PodDisruptionBudget"
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pods.items()


def _manifests(template: Template) -> list[str]:
    resources = template.find_resources("Custom::AWSCDK-EKS-KubernetesResource")
    return [json.dumps(r["Properties"]["Manifest"]) for r in resources.values()]


def test_stack_applies_deployment_and_budget_with_the_image_asset_and_the_api_url(template: Template) -> None:
    workload = next(m for m in _manifests(template) if '\\"kind\\":\\"Deployment\\"' in m)
    assert '\\"kind\\":\\"PodDisruptionBudget\\"' in workload
    assert "container-assets" in workload  # the image CDK publishes from school_container/Dockerfile
    assert "KeeperHttpApi" in workload  # KOIPOND_KEEPER_URL is the API's URL
    assert '\\"replicas\\":2' in workload


def test_no_token_value_is_written_into_the_template(template: Template) -> None:
    rendered = json.dumps(template.to_json())
    for name in (envvars.TOKEN, envvars.ADMIN_TOKEN, envvars.TOKEN_MINT_ADMIN_TOKEN):
        assert f'\\"name\\":\\"{name}\\",\\"value\\"' not in rendered
        assert f'"{name}":' not in rendered


def test_school_service_account_may_only_read_shards_and_decrypt_through_s3(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": Match.string_like_regexp(
        "^SchoolsServiceAccountRole")}]}})  # fmt: skip
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert sorted(s["Action"] for s in statements) == ["kms:Decrypt", "s3:GetObject"]
    by_action = {s["Action"]: s for s in statements}
    assert "/tokens/*" in json.dumps(by_action["s3:GetObject"]["Resource"])
    via = by_action["kms:Decrypt"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert "s3." in json.dumps(via)
    assert "TokenStorageKey" in json.dumps(by_action["kms:Decrypt"]["Resource"])


def test_service_account_role_trusts_only_its_own_kubernetes_service_account(template: Template) -> None:
    roles = template.find_resources("AWS::IAM::Role")
    (role,) = [r for lid, r in roles.items() if lid.startswith("SchoolsServiceAccountRole")]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # The condition names the OIDC issuer, known only at deploy time: CDK resolves it in a CfnJson resource.
    condition_id = statement["Condition"]["StringEquals"]["Fn::GetAtt"][0]
    value = template.to_json()["Resources"][condition_id]["Properties"]["Value"]
    parts = [part for part in value["Fn::Join"][1] if isinstance(part, str)]
    assert ':sub":"system:serviceaccount:koipond:koipond-school"}' in parts
    assert ':aud":"sts.amazonaws.com","' in parts


def test_new_cluster_runs_kubernetes_1_35_logged_encrypted_with_one_node_per_school(template: Template) -> None:
    template.has_resource_properties(
        "Custom::AWSCDK-EKS-Cluster",
        {
            "Config": Match.object_like(
                {
                    "version": "1.35",
                    "encryptionConfig": [Match.object_like({"resources": ["secrets"]})],
                    "logging": {
                        "clusterLogging": [
                            Match.object_like({"enabled": True, "types": Match.array_with(["api", "audit"])})
                        ]
                    },
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::EKS::Nodegroup",
        {
            "AmiType": "AL2023_x86_64_STANDARD",
            "InstanceTypes": ["c7i.large"],
            "ScalingConfig": {"MinSize": 2, "DesiredSize": 2, "MaxSize": 4},
        },
    )
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    assert any("kubectl 1.35" in r["Properties"].get("Description", "") for r in layers.values())


def test_importing_a_cluster_needs_its_kubectl_role_and_oidc_provider() -> None:
    with pytest.raises(ValueError, match="eksKubectlRoleArn"):
        build_app({"aws:cdk:bundling-stacks": [], "koipond:eksClusterName": "schools"})
