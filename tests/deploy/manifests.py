"""The manifests under ``deploy/``, loaded for the validation tests.

``kustomize_build`` renders a kustomization with ``kustomize`` or ``kubectl
kustomize`` when one is installed (None otherwise: callers skip); the raw
files are always checked on their own.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KSERVE_CRDS = REPO.parent / "shared" / "reference" / "kserve-crds"
KUBERNETES_VERSIONS = ("1.34.0", "1.37.0")
KSERVE_KINDS = {
    "ServingRuntime": "serving.kserve.io_servingruntimes.yaml",
    "ClusterServingRuntime": "serving.kserve.io_clusterservingruntimes.yaml",
    "InferenceService": "serving.kserve.io_inferenceservices.yaml",
}

Resource = dict[str, Any]


def manifest_files() -> list[Path]:
    """Every resource file (kustomization files and patches excluded)."""
    return sorted(
        p
        for p in DEPLOY.rglob("*.yaml")
        if p.name != "kustomization.yaml" and p.name not in patch_files()
    )


@functools.cache
def patch_files() -> frozenset[str]:
    names = set()
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        for patch in yaml.safe_load(kustomization.read_text()).get("patches", []):
            names.add(Path(patch["path"]).name)
    return frozenset(names)


def kustomizations() -> list[Path]:
    return sorted(p.parent for p in DEPLOY.rglob("kustomization.yaml"))


def documents(path: Path) -> list[Resource]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def all_resources() -> list[tuple[Path, Resource]]:
    return [(path, doc) for path in manifest_files() for doc in documents(path)]


def kustomize_build(directory: Path) -> list[Resource] | None:
    """The rendered resources, or None when neither kustomize nor kubectl is installed."""
    if shutil.which("kustomize"):
        command = ["kustomize", "build", str(directory)]
    elif shutil.which("kubectl"):
        command = ["kubectl", "kustomize", str(directory)]
    else:
        return None
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@functools.cache
def strict_crd_schema(kind: str) -> dict[str, Any]:
    """KServe's schema for ``kind`` with unknown fields rejected wherever the CRD
    lists an object's properties (its own ``x-kubernetes-preserve-unknown-fields``
    objects stay open)."""
    crd = yaml.safe_load((KSERVE_CRDS / KSERVE_KINDS[kind]).read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    _close(schema)
    return schema


def _close(schema: Any) -> None:
    if isinstance(schema, dict):
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            _close(value)
    elif isinstance(schema, list):
        for item in schema:
            _close(item)


def flag_value(args: list[str], name: str) -> str | None:
    prefix = f"--{name}="
    return next((a[len(prefix) :] for a in args if a.startswith(prefix)), None)
