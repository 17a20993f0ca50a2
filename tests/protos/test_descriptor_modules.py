"""TensorFlow Serving's and V2's messages from tensorserve's descriptors: the installed
packages' own, the same classes, and no TensorFlow or tritonclient import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tensorserve.protos import descriptor_modules, generate, tfserving_descriptors

REPO = Path(__file__).resolve().parents[2]


def _run(program: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("descriptors", generate.SETS, ids=lambda d: d.target.stem)
def test_the_checked_in_descriptors_are_what_the_installed_packages_generate(
    descriptors: generate.DescriptorSet,
) -> None:
    assert descriptors.target.read_text() == generate.render(descriptors), (
        f"tensorserve/protos/{descriptors.target.name} is stale: "
        "run python -m tensorserve.protos.generate"
    )


def test_the_transports_import_without_tensorflow() -> None:
    program = """
import sys
from tensorserve.protos.tfserving import predict_pb2, types_pb2
import tensorserve.grpc.server, tensorserve.rest.app, tensorserve.server
import tensorserve.v2.grpc_service, tensorserve.v2.rest_app
request = predict_pb2.PredictRequest()
request.model_spec.name = "m"
request.inputs["x"].dtype = types_pb2.DT_FLOAT
request.inputs["x"].float_val.extend([1.0, 2.0])
heavy = sorted(
    {m.split(".")[0] for m in sys.modules}
    & {"tensorflow", "keras", "scipy", "tritonclient"}
)
print(heavy, request.SerializeToString().hex())
"""
    heavy, wire = _run(program).split(" ")
    assert heavy == "[]"
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest.FromString(bytes.fromhex(wire))
    assert request.model_spec.name == "m"
    assert list(request.inputs["x"].float_val) == [1.0, 2.0]


@pytest.mark.parametrize("tensorflow_first", [False, True])
def test_messages_are_the_generated_classes_whichever_loads_first(tensorflow_first: bool) -> None:
    program = f"""
if {tensorflow_first}:
    from tensorflow_serving.apis import predict_pb2 as generated
from tensorserve.protos import tfserving
from tensorflow_serving.apis import predict_pb2 as generated
from tensorflow_serving.config import model_server_config_pb2
from tensorflow.core.framework import types_pb2
same = (
    tfserving.predict_pb2.PredictRequest is generated.PredictRequest
    and tfserving.predict_pb2.PredictRequest.InputsEntry is generated.PredictRequest.InputsEntry
    and tfserving.model_server_config_pb2.ModelServerConfig
    is model_server_config_pb2.ModelServerConfig
    and tfserving.types_pb2.DT_STRING == types_pb2.DT_STRING
    and tfserving.types_pb2.DataType.Name(7) == "DT_STRING"
)
print(same)
"""
    assert _run(program) == "True"


def test_v2_messages_are_tritonclients_classes() -> None:
    program = """
from tensorserve.v2.grpc_protos import service_pb2
from tritonclient.grpc import service_pb2 as generated
print(service_pb2.ModelInferRequest is generated.ModelInferRequest)
"""
    assert _run(program) == "True"


def _installed(monkeypatch: pytest.MonkeyPatch, versions: dict[str, str]) -> None:
    """Pretend ``versions`` (distribution: version) are what is installed."""
    monkeypatch.setattr(descriptor_modules, "installed_version", versions.get)


def test_another_tensorflow_version_gets_the_generated_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """protobuf refuses two different files of one name, so descriptors dumped from
    another TensorFlow must not be added: the generated modules serve instead."""
    from tensorflow_serving.apis import predict_pb2

    _installed(monkeypatch, {"tensorflow": "2.18.0", "tensorflow-serving-api": "2.21.0"})
    assert not descriptor_modules.match_installed(tfserving_descriptors.VERSIONS)
    modules = descriptor_modules.load_modules(tfserving_descriptors)
    assert modules["tensorflow_serving.apis.predict_pb2"] is predict_pb2
    assert set(modules) == set(tfserving_descriptors.MODULES)


def test_tensorflow_under_another_distribution_name_is_recognised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version = tfserving_descriptors.VERSIONS["tensorflow"]
    serving = tfserving_descriptors.VERSIONS["tensorflow_serving"]
    _installed(monkeypatch, {"tensorflow-cpu": version, "tensorflow-serving-api": serving})
    assert descriptor_modules.match_installed(tfserving_descriptors.VERSIONS)
    _installed(monkeypatch, {"tensorflow-cpu": "2.18.1", "tensorflow-serving-api": serving})
    assert not descriptor_modules.match_installed(tfserving_descriptors.VERSIONS)


def test_a_package_no_known_distribution_ships_gets_the_generated_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TensorFlow importable, but from no distribution we know (a source build): which
    protos it carries is unknown, so the safe choice is its generated modules."""
    _installed(
        monkeypatch, {"tensorflow-serving-api": tfserving_descriptors.VERSIONS["tensorflow"]}
    )
    assert descriptor_modules.is_importable("tensorflow")
    assert not descriptor_modules.match_installed(tfserving_descriptors.VERSIONS)


def test_absent_packages_leave_the_descriptors_as_the_only_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _installed(monkeypatch, {})
    monkeypatch.setattr(descriptor_modules, "is_importable", lambda package: False)
    assert descriptor_modules.match_installed(tfserving_descriptors.VERSIONS)
