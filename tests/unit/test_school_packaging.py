"""The School's Dockerfile and Kubernetes manifest agree with the code they run."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import yaml

from school_container.main import Exposition, probe_app
from school_container.school import School
from school_container.settings import SchoolSettings

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "school_container" / "k8s" / "deployment.yaml"
DOCKERFILE = ROOT / "school_container" / "Dockerfile"


def container() -> dict:  # type: ignore[type-arg]
    deployment = yaml.safe_load(MANIFEST.read_text())
    assert deployment["kind"] == "Deployment"
    return deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_probes_hit_routes_the_school_serves() -> None:
    app = probe_app(cast(School, None), cast(Exposition, None))  # routes only; no request is served here
    served = {route.resource.canonical for route in app.router.routes() if route.resource is not None}
    spec = container()
    assert spec["livenessProbe"]["httpGet"]["path"] in served
    assert spec["readinessProbe"]["httpGet"]["path"] in served
    assert spec["resources"]["requests"]["cpu"]
    assert spec["resources"]["requests"]["memory"]


def test_every_env_var_in_the_manifest_is_a_school_setting() -> None:
    known = {f"KOIPOND_{name.upper()}" for name in SchoolSettings.model_fields}
    names = {env["name"] for env in container()["env"]}
    assert names <= known, names - known


def test_scrape_annotations_point_at_the_metrics_port() -> None:
    deployment = yaml.safe_load(MANIFEST.read_text())
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    port = container()["ports"][0]["containerPort"]
    assert annotations["prometheus.io/port"] == str(port)
    assert SchoolSettings.model_fields["metrics_port"].default == port


def test_dockerfile_copies_what_exists_and_runs_the_school() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    copied = [
        part for line in lines if line.startswith("COPY ") and "--from" not in line for part in line.split()[1:-1]
    ]
    assert copied
    assert all((ROOT / path).exists() for path in copied), copied
    assert 'ENTRYPOINT ["koipond", "school"]' in lines
