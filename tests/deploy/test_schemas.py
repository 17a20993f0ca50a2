"""Every manifest under deploy/ validates strictly: Kubernetes' own schemas for two
Kubernetes versions, KServe's CRD schemas (unknown fields rejected) for its kinds."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from tests.deploy.manifests import (
    KSERVE_CRDS,
    KSERVE_KINDS,
    KUBERNETES_VERSIONS,
    Resource,
    all_resources,
    kustomizations,
    kustomize_build,
    strict_crd_schema,
)

kubernetes_validate = pytest.importorskip("kubernetes_validate")

RESOURCES = all_resources()
IDS = [f"{path.parent.name}/{path.name}:{doc['kind']}" for path, doc in RESOURCES]


def validate(resource: Resource) -> None:
    if resource["kind"] in KSERVE_KINDS:
        if not KSERVE_CRDS.is_dir():
            pytest.skip("../shared/reference/kserve-crds is absent")
        jsonschema.validate(resource, strict_crd_schema(resource["kind"]))
    else:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(resource, version, strict=True)


def test_the_layout_has_what_the_deploy_guide_names() -> None:
    kinds = {doc["kind"] for _, doc in RESOURCES}
    assert kinds >= {
        "ClusterServingRuntime",
        "ServingRuntime",
        "InferenceService",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "PersistentVolumeClaim",
        "Secret",
        "ServiceAccount",
        "ConfigMap",
    }


@pytest.mark.parametrize(("path", "resource"), RESOURCES, ids=IDS)
def test_manifest_validates_strictly(path: Path, resource: Resource) -> None:
    validate(resource)


@pytest.mark.parametrize("directory", kustomizations(), ids=lambda p: str(p.name))
def test_each_kustomization_renders_resources_that_validate(directory: Path) -> None:
    rendered = kustomize_build(directory)
    if rendered is None:
        pytest.skip("neither kustomize nor kubectl is installed to render kustomizations")
    assert rendered
    for resource in rendered:
        validate(resource)


def test_a_misspelt_field_is_caught() -> None:
    """The strict schemas do reject unknown fields (a typo must not pass silently)."""
    runtime = next(doc for _, doc in RESOURCES if doc["kind"] == "ClusterServingRuntime")
    if not KSERVE_CRDS.is_dir():
        pytest.skip("../shared/reference/kserve-crds is absent")
    typo = {**runtime, "spec": {**runtime["spec"], "protocolVersion": ["v1"]}}
    with pytest.raises(jsonschema.ValidationError, match="protocolVersion"):
        validate(typo)
    deployment = next(doc for _, doc in RESOURCES if doc["kind"] == "Deployment")
    bad = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        validate(bad)
