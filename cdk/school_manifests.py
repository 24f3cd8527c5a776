"""The School's Kubernetes objects for EKS, derived from ``school_container/k8s/deployment.yaml`` (one source)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from koipond import envvars

DEPLOYMENT_YAML = Path(__file__).resolve().parent.parent / "school_container" / "k8s" / "deployment.yaml"
APP_LABEL = "app.kubernetes.io/name"
# The key of the token inside the Kubernetes Secret, as the manifest's secretKeyRef reads it.
TOKEN_SECRET_KEY = "token"  # noqa: S105 - a key name, not a secret


@dataclass(frozen=True)
class SchoolWorkload:
    """What the stack decides about the Schools; everything else comes from the checked-in manifest."""

    namespace: str
    service_account: str
    image: str
    replicas: int
    capacity: int
    keeper_url: str
    token_secret: str
    token_bucket: str
    region: str


@cache
def _reference_deployment() -> dict[str, Any]:
    document = yaml.safe_load(DEPLOYMENT_YAML.read_text())
    if not isinstance(document, dict) or document.get("kind") != "Deployment":
        raise ValueError(f"{DEPLOYMENT_YAML} must hold one apps/v1 Deployment")
    return document


def school_deployment(workload: SchoolWorkload) -> dict[str, Any]:
    """The reference Deployment with this stage's image, replicas, namespace, service account and env.

    Probes, resources, Prometheus annotations and the security context stay as in the YAML that
    ``kubectl apply`` users run, so both ways of deploying Schools behave the same.
    """
    deployment = copy.deepcopy(_reference_deployment())
    deployment["metadata"]["namespace"] = workload.namespace
    spec = deployment["spec"]
    spec["replicas"] = workload.replicas
    pod = spec["template"]["spec"]
    pod["serviceAccountName"] = workload.service_account
    container = pod["containers"][0]
    container["image"] = workload.image
    container["imagePullPolicy"] = "IfNotPresent"
    container["env"] = _environment(container["env"], workload)
    return deployment


def _environment(reference: list[dict[str, Any]], workload: SchoolWorkload) -> list[dict[str, Any]]:
    """The YAML's env with the stage's values; the token always comes from the Secret, never a literal."""
    values = {
        envvars.KEEPER_URL: workload.keeper_url,
        "KOIPOND_SCHOOL_CAPACITY": str(workload.capacity),
        envvars.TOKEN_BUCKET: workload.token_bucket,
        envvars.AWS_REGION: workload.region,
    }
    token = {
        "name": envvars.TOKEN,
        "valueFrom": {"secretKeyRef": {"name": workload.token_secret, "key": TOKEN_SECRET_KEY}},
    }
    env = [
        token if item["name"] == envvars.TOKEN else _with_value(item, values.pop(item["name"], None))
        for item in reference
    ]
    return env + [{"name": name, "value": value} for name, value in values.items()]


def _with_value(item: dict[str, Any], value: str | None) -> dict[str, Any]:
    return item if value is None else {"name": item["name"], "value": value}


def school_disruption_budget(workload: SchoolWorkload) -> dict[str, Any]:
    """At most one School down for voluntary disruptions (node drains): its koi move to the others."""
    labels = _reference_deployment()["spec"]["selector"]["matchLabels"]
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": labels[APP_LABEL], "namespace": workload.namespace},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(labels)}},
    }


def school_namespace(workload: SchoolWorkload) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": workload.namespace}}
