"""The pins behind the V2 gRPC classes hold in this installation (run in CI by `make test`).

tritonclient is installed ``--no-deps`` (``[tool.tensorserve]`` in pyproject.toml):
its metadata would downgrade TensorFlow's ml-dtypes and protobuf. These tests
check what that decision relies on: the pinned version is the one installed,
its generated code imports under the installed protobuf and grpcio, TensorFlow
Serving's protos and Triton's live in one process, and `pip check` finds
nothing but tritonclient's declared ml-dtypes bound.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
KNOWN_PIP_CHECK_LINE = re.compile(
    r"tritonclient [\d.]+ has requirement ml-dtypes<=0\.5\.4, but you have ml-dtypes [\d.]+\."
)


def no_deps_requirements() -> list[Requirement]:
    with PYPROJECT.open("rb") as file:
        table = tomllib.load(file)["tool"]["tensorserve"]
    return [Requirement(text) for text in table["no-deps-requirements"]]


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (a clean descriptor pool); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_installed_no_deps_packages_match_their_pins() -> None:
    for requirement in no_deps_requirements():
        installed = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(installed), f"{requirement.name} {installed}"


def test_tritonclient_gencode_imports_under_the_installed_protobuf_and_grpcio() -> None:
    # service_pb2 checks the protobuf runtime (>= its 6.33.5 gencode), service_pb2_grpc
    # raises RuntimeError for a grpcio older than its 1.81.1 gencode.
    out = run_python(
        "from tritonclient.grpc import service_pb2, service_pb2_grpc\n"
        "service = service_pb2.DESCRIPTOR.services_by_name['GRPCInferenceService']\n"
        "print(service.full_name, len(service.methods))\n"
        "print(hasattr(service_pb2_grpc, 'GRPCInferenceServiceStub'))\n"
    )
    assert out.split() == ["inference.GRPCInferenceService", "20", "True"]


def test_tensorflow_serving_and_triton_protos_load_in_one_process() -> None:
    out = run_python(
        "from google.protobuf import descriptor_pool\n"
        "from tensorflow_serving.apis import model_service_pb2, predict_pb2\n"
        "from tensorflow_serving.apis import prediction_service_pb2\n"
        "from tensorserve.v2.grpc_protos import service_pb2\n"
        "pool = descriptor_pool.Default()\n"
        "for name in ('tensorflow.serving.PredictionService', 'tensorflow.serving.ModelService',"
        " 'inference.GRPCInferenceService'):\n"
        "    print(pool.FindServiceByName(name).full_name)\n"
        "request = predict_pb2.PredictRequest()\n"
        "request.model_spec.name = 'm'\n"
        "infer = service_pb2.ModelInferRequest(model_name='m', raw_input_contents=[b'x'])\n"
        "print(predict_pb2.PredictRequest.FromString(request.SerializeToString()).model_spec.name,"
        " service_pb2.ModelInferRequest.FromString(infer.SerializeToString()).model_name)\n"
    )
    assert out.split() == [
        "tensorflow.serving.PredictionService",
        "tensorflow.serving.ModelService",
        "inference.GRPCInferenceService",
        "m",
        "m",
    ]


def test_the_grpc_front_end_imports_no_v2_classes_until_it_builds_a_server() -> None:
    out = run_python(
        "import sys\nimport tensorserve.grpc.server\nprint('tritonclient' in sys.modules)\n"
    )
    assert out.split() == ["False"]


def test_pip_check_finds_only_tritonclients_declared_ml_dtypes_bound() -> None:
    """tritonclient 2.73 declares ml-dtypes<=0.5.4 (it uses only ``ml_dtypes.bfloat16``,
    which later versions keep); tensorserve pins >=0.5.4,<0.7 (so 0.6). Nothing else may
    be inconsistent."""
    pytest.importorskip("pip")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    unexpected = [line for line in lines if not KNOWN_PIP_CHECK_LINE.fullmatch(line)]
    assert not unexpected, done.stdout
