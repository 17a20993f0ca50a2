"""TensorFlow Serving's messages from tensorserve's descriptors: the installed packages'
own, the same classes, and no TensorFlow import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tensorserve.protos import generate, tfserving, tfserving_descriptors

REPO = Path(__file__).resolve().parents[2]


def _run(program: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_checked_in_descriptors_are_what_the_installed_packages_generate() -> None:
    assert Path(generate.TARGET).read_text() == generate.render(), (
        "tensorserve/protos/tfserving_descriptors.py is stale: "
        "run python -m tensorserve.protos.generate"
    )


def test_the_transports_import_without_tensorflow() -> None:
    program = """
import sys
from tensorserve.protos.tfserving import predict_pb2, types_pb2
import tensorserve.grpc.server, tensorserve.rest.app, tensorserve.server
request = predict_pb2.PredictRequest()
request.model_spec.name = "m"
request.inputs["x"].dtype = types_pb2.DT_FLOAT
request.inputs["x"].float_val.extend([1.0, 2.0])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "scipy"})
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


def test_another_tensorflow_version_gets_the_generated_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """protobuf refuses two different files of one name, so descriptors dumped from
    another TensorFlow must not be added: the generated modules serve instead."""
    from tensorflow_serving.apis import predict_pb2

    monkeypatch.setattr(
        tfserving,
        "_installed_version",
        lambda name: "0.0.1" if name == "tensorflow" else None,
    )
    assert not tfserving.descriptors_match_installed()
    modules = tfserving._load_modules()
    assert modules["tensorflow_serving.apis.predict_pb2"] is predict_pb2
    assert set(modules) == set(tfserving_descriptors.MODULES)


def test_without_tensorflow_installed_the_descriptors_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tfserving, "_installed_version", lambda name: None)
    assert tfserving.descriptors_match_installed()
