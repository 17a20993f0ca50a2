"""Exports with ONNX twins, served with ``--prefer_onnx_model``, answer as Keras does.

The demo-style CNN (image bytes, a tensor signature and classify), a model with a
custom layer, and a multi-input/multi-output model are exported with twins; a copy
of the multi model gets a twin spoiled by the test. Over REST and gRPC every answer
is within the export tolerance of the Keras model; the spoiled twin is caught at
load and TensorFlow serves that model; image bytes and classify stay in TensorFlow.
Whether a verified twin serves depends on it being faster here, so the log must show
a decision for each one. ``tensorserve convert`` adds twins to a plain SavedModel.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tensorserve.platforms.onnx.twin_manifest import read_manifest
from tests.e2e.test_export_serving import (
    assert_close,
    model_config,
    png_bytes,
    predict_grpc,
    predict_rest,
    random_floats,
    serves_version,
)
from tests.export.conftest import (
    build_custom_layer_model,
    build_image_model,
    build_multi_io_model,
    export_keras_model,
)
from tests.export.custom_layers import CUSTOM_OBJECT_SPEC
from tests.support.onnx_twins import add_to_output
from tests.support.saved_models import write_tf2_half_plus_two
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LABELS = ("cat", "dog", "bird")
TWIN_DECISION = ("serves it", "slower than TensorFlow")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict]]:
    base = tmp_path_factory.mktemp("twins_serving") / "serving_model"
    keras_models: dict[str, Any] = {
        "custom": build_custom_layer_model(),
        "multi": build_multi_io_model(),
        "cnn": build_image_model(),
    }
    export_keras_model(
        keras_models["custom"], base, "custom", labels=LABELS, custom_objects=(CUSTOM_OBJECT_SPEC,)
    )
    export_keras_model(keras_models["multi"], base, "multi")
    export_keras_model(keras_models["cnn"], base, "cnn", labels=LABELS, image_input=True)
    shutil.copytree(base / "multi", base / "wrong")
    add_to_output(base / "wrong/1/assets.extra/onnx/serving_default.onnx", "total", 0.5)
    keras_models["wrong"] = keras_models["multi"]
    config = base / "models.config"
    config.write_text(model_config(base, keras_models))
    with running_server(
        f"--model_config_file={config}", "--prefer_onnx_model", "--max_num_load_retries=0"
    ) as server:
        for name in keras_models:
            wait_until(partial(serves_version, server, name, 1), what=f"{name} AVAILABLE")
        yield server, keras_models


def test_every_verified_twin_was_checked_and_timed_at_load(served: tuple) -> None:
    server, _ = served
    log = server.log()
    decisions = [line for line in log.splitlines() if "ONNX twin of" in line]
    assert any(d in line for line in decisions for d in TWIN_DECISION), log
    assert log.count("Runtimes of") == 4, log


def test_custom_layer_model_within_tolerance_over_rest_and_grpc(served: tuple) -> None:
    server, models = served
    features = random_floats((3, 4), seed=10)
    expected = np.asarray(models["custom"](features, training=False))
    rows = predict_rest(server, "custom", {"instances": features.tolist()})
    assert_close([row["probabilities"] for row in rows["predictions"]], expected)
    assert_close(predict_grpc(server, "custom", {"features": features})["probabilities"], expected)


def test_multi_io_model_within_tolerance_over_rest_and_grpc(served: tuple) -> None:
    server, models = served
    a, b = random_floats((3, 3), seed=20), random_floats((3, 2, 2), seed=21)
    total, logits = (np.asarray(t) for t in models["multi"]([a, b], training=False))
    columns = predict_rest(server, "multi", {"inputs": {"a": a.tolist(), "b": b.tolist()}})
    assert_close(columns["outputs"]["total"], total)
    grpc_outputs = predict_grpc(server, "multi", {"a": a, "b": b})
    assert_close(grpc_outputs["total"], total)
    assert_close(grpc_outputs["logits"], logits)


def test_cnn_tensor_signature_within_tolerance_and_image_bytes_still_served(
    served: tuple,
) -> None:
    server, models = served
    pixels = np.random.default_rng(3).integers(0, 256, (2, 8, 8, 1)).astype(np.uint8)
    scaled = pixels.astype(np.float32) / 255
    expected = np.asarray(models["cnn"](scaled, training=False))
    body = {"signature_name": "predict_tensor", "inputs": {"pixels": scaled.tolist()}}
    assert_close(predict_rest(server, "cnn", body)["outputs"]["probabilities"], expected)
    image = {"b64": base64.b64encode(png_bytes(pixels[0, :, :, 0])).decode()}
    answer = predict_rest(server, "cnn", {"instances": [{"image_bytes": image}]})
    assert_close([answer["predictions"][0]["probabilities"]], expected[:1])


def test_classify_is_still_served_by_tensorflow(served: tuple) -> None:
    server, _ = served
    features = random_floats((2, 4), seed=12)
    examples = [{"features": [float(v) for v in row]} for row in features]
    status, body = server.post(
        "/v1/models/custom:classify", {"signature_name": "classify", "examples": examples}
    )
    assert status == 200, body
    assert [[label for label, _ in r] for r in json.loads(body)["results"]] == [list(LABELS)] * 2


def test_a_spoiled_twin_is_caught_at_load_and_tensorflow_answers(served: tuple) -> None:
    server, models = served
    assert "differs from TensorFlow by 0.5" in server.log()
    a, b = random_floats((2, 3), seed=40), random_floats((2, 2, 2), seed=41)
    total, _ = (np.asarray(t) for t in models["wrong"]([a, b], training=False))
    assert_close(predict_grpc(server, "wrong", {"a": a, "b": b})["total"], total)


def test_convert_adds_verified_twins_to_a_plain_saved_model(tmp_path: Path) -> None:
    version = write_tf2_half_plus_two(tmp_path / "hpt" / "1")
    done = subprocess.run(
        [sys.executable, "-m", "tensorserve", "convert", str(version), "--tolerance=1e-6"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "have a verified ONNX twin" in done.stdout
    records = read_manifest(version)
    assert any(record.verified for record in records.values()), records
