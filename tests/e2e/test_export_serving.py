"""Models written by ``tensorserve export`` serve the Keras model's answers from the real server.

One server serves four exports at once (a custom layer with labels, several inputs and
outputs as lists, as dicts, and an image model with the image signature and labels);
predictions over REST (row and columnar) and gRPC must match Keras within 1e-5. A second
server polls a base directory while exports land in it and must never see a partial one.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.export.conftest import (
    build_custom_layer_model,
    build_dict_io_model,
    build_image_model,
    build_multi_io_model,
    export_keras_model,
)
from tests.export.custom_layers import CUSTOM_OBJECT_SPEC
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TOLERANCE = 1e-5
CUSTOM_LABELS = ("low", "middle", "high")
IMAGE_LABELS = ("cat", "dog", "bird")
LOAD_FAILURE = re.compile(r"^\S+ \S+ [WE] tensorserve\S*\] .*$", re.MULTILINE)
"""A warning or error line from tensorserve's own loggers (the server's log format)."""


@dataclasses.dataclass(frozen=True)
class ServedExports:
    """The server and, by served model name, the Keras model each export came from."""

    server: ServerProcess
    keras_models: dict[str, Any]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedExports]:
    base_dir = tmp_path_factory.mktemp("export_serving") / "serving_model"
    keras_models = {
        "custom": build_custom_layer_model(),
        "multi": build_multi_io_model(),
        "dict_io": build_dict_io_model(),
        "image": build_image_model(),
    }
    export_keras_model(
        keras_models["custom"],
        base_dir,
        "custom",
        labels=CUSTOM_LABELS,
        custom_objects=(CUSTOM_OBJECT_SPEC,),
    )
    export_keras_model(keras_models["multi"], base_dir, "multi")
    export_keras_model(keras_models["dict_io"], base_dir, "dict_io")
    export_keras_model(
        keras_models["image"], base_dir, "image", labels=IMAGE_LABELS, image_input=True
    )
    config = base_dir / "models.config"
    config.write_text(model_config(base_dir, keras_models))
    with running_server(f"--model_config_file={config}", "--max_num_load_retries=0") as server:
        for name in keras_models:
            wait_until(partial(serves_version, server, name, 1), what=f"{name} AVAILABLE")
        yield ServedExports(server, keras_models)


def model_config(base_dir: Path, names: dict[str, Any]) -> str:
    blocks = "".join(
        f'  config {{ name: "{name}" base_path: "{base_dir / name}" '
        'model_platform: "tensorflow" }\n'
        for name in names
    )
    return f"model_config_list {{\n{blocks}}}\n"


def serves_version(server: ServerProcess, name: str, version: int) -> bool:
    return server.model_states(name).get(version) == "AVAILABLE"


def random_floats(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(np.float32)


def predict_rest(server: ServerProcess, name: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = server.post(f"/v1/models/{name}:predict", body)
    assert status == 200, answer
    return dict(json.loads(answer))


def predict_grpc(server: ServerProcess, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """PredictionService/Predict through the official ``tensorflow_serving.apis`` stubs."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    with grpc.insecure_channel(server.grpc_target) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=30
        )
    assert response.model_spec.name == name
    return {alias: tf.make_ndarray(proto) for alias, proto in response.outputs.items()}


def png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def assert_close(served: Any, expected: Any) -> None:
    np.testing.assert_allclose(np.asarray(served, np.float64), expected, rtol=0, atol=TOLERANCE)


def test_custom_layer_model_rows_and_columns_match_keras(served: ServedExports) -> None:
    features = random_floats((3, 4), seed=10)
    expected = np.asarray(served.keras_models["custom"](features, training=False))

    rows = predict_rest(served.server, "custom", {"instances": features.tolist()})
    columns = predict_rest(served.server, "custom", {"inputs": features.tolist()})

    assert_close([row["probabilities"] for row in rows["predictions"]], expected)
    assert_close([row["scores"] for row in rows["predictions"]], expected)
    assert [row["classes"] for row in rows["predictions"]] == [list(CUSTOM_LABELS)] * 3
    assert_close(columns["outputs"]["probabilities"], expected)


def test_custom_layer_model_over_grpc_matches_keras(served: ServedExports) -> None:
    features = random_floats((2, 4), seed=11)
    expected = np.asarray(served.keras_models["custom"](features, training=False))

    outputs = predict_grpc(served.server, "custom", {"features": features})

    assert set(outputs) == {"probabilities", "scores", "classes"}
    assert_close(outputs["probabilities"], expected)
    assert outputs["classes"].tolist() == [[label.encode() for label in CUSTOM_LABELS]] * 2


def test_custom_layer_model_classify_over_rest_names_the_labels(served: ServedExports) -> None:
    features = random_floats((2, 4), seed=12)
    expected = np.asarray(served.keras_models["custom"](features, training=False))
    examples = [{"features": [float(value) for value in row]} for row in features]

    status, body = served.server.post(
        "/v1/models/custom:classify", {"signature_name": "classify", "examples": examples}
    )

    assert status == 200, body
    results = json.loads(body)["results"]
    assert [[label for label, _ in result] for result in results] == [list(CUSTOM_LABELS)] * 2
    assert_close([[score for _, score in result] for result in results], expected)


def test_multi_input_output_model_matches_keras_in_every_format(served: ServedExports) -> None:
    a, b = random_floats((3, 3), seed=20), random_floats((3, 2, 2), seed=21)
    total, logits = (np.asarray(t) for t in served.keras_models["multi"]([a, b], training=False))
    instances = [{"a": a[i].tolist(), "b": b[i].tolist()} for i in range(3)]

    rows = predict_rest(served.server, "multi", {"instances": instances})
    columns = predict_rest(served.server, "multi", {"inputs": {"a": a.tolist(), "b": b.tolist()}})
    grpc_outputs = predict_grpc(served.server, "multi", {"a": a, "b": b})

    assert_close([row["total"] for row in rows["predictions"]], total)
    assert_close([row["logits"] for row in rows["predictions"]], logits)
    assert_close(columns["outputs"]["total"], total)
    assert_close(columns["outputs"]["logits"], logits)
    assert_close(grpc_outputs["total"], total)
    assert_close(grpc_outputs["logits"], logits)


def test_dict_input_output_model_serves_its_output_keys(served: ServedExports) -> None:
    left, right = random_floats((2, 2), seed=30), random_floats((2, 2), seed=31)
    expected = served.keras_models["dict_io"]({"left": left, "right": right}, training=False)

    columns = predict_rest(
        served.server, "dict_io", {"inputs": {"left": left.tolist(), "right": right.tolist()}}
    )

    assert set(columns["outputs"]) == {"doubled", "summed"}
    for key in ("doubled", "summed"):
        assert_close(columns["outputs"][key], np.asarray(expected[key]))


def test_image_signature_decodes_png_like_keras_input(served: ServedExports) -> None:
    pixels = np.random.default_rng(40).integers(0, 256, (2, 8, 8), dtype=np.uint8)
    images = [png_bytes(image) for image in pixels]
    model_input = pixels[..., None].astype(np.float32) * np.float32(1 / 255)
    expected = np.asarray(served.keras_models["image"](model_input, training=False))

    rows = predict_rest(
        served.server,
        "image",
        {"instances": [{"b64": base64.b64encode(image).decode()} for image in images]},
    )
    grpc_outputs = predict_grpc(served.server, "image", {"image_bytes": np.array(images)})

    assert_close([row["probabilities"] for row in rows["predictions"]], expected)
    assert [row["classes"] for row in rows["predictions"]] == [list(IMAGE_LABELS)] * 2
    assert_close(grpc_outputs["scores"], expected)


def test_image_classify_over_rest_returns_class_names_and_scores(served: ServedExports) -> None:
    pixels = np.random.default_rng(41).integers(0, 256, (8, 8), dtype=np.uint8)
    encoded = base64.b64encode(png_bytes(pixels)).decode()
    model_input = pixels[None, ..., None].astype(np.float32) * np.float32(1 / 255)
    expected = np.asarray(served.keras_models["image"](model_input, training=False))

    status, body = served.server.post(
        "/v1/models/image:classify",
        {"signature_name": "classify", "examples": [{"image/encoded": {"b64": encoded}}]},
    )

    assert status == 200, body
    (result,) = json.loads(body)["results"]
    assert [label for label, _ in result] == list(IMAGE_LABELS)
    assert_close([[score for _, score in result]], expected)


def test_image_classify_over_grpc_names_the_labels(served: ServedExports) -> None:
    import grpc
    from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc

    pixels = np.random.default_rng(42).integers(0, 256, (8, 8), dtype=np.uint8)
    model_input = pixels[None, ..., None].astype(np.float32) * np.float32(1 / 255)
    expected = np.asarray(served.keras_models["image"](model_input, training=False))
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "image"
    request.model_spec.signature_name = "classify"
    example = request.input.example_list.examples.add()
    example.features.feature["image/encoded"].bytes_list.value.append(png_bytes(pixels))

    with grpc.insecure_channel(served.server.grpc_target) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Classify(
            request, timeout=30
        )

    (classification,) = response.result.classifications
    assert [c.label for c in classification.classes] == list(IMAGE_LABELS)
    assert_close([[c.score for c in classification.classes]], expected)


@pytest.mark.slow
def test_polling_server_never_loads_a_partial_export(tmp_path: Path) -> None:
    """Exports land while the server polls every second: each version it ever reports
    becomes AVAILABLE, none ends in an error, and the log shows no failed load."""
    base_dir = tmp_path / "serving_model"
    model = build_custom_layer_model()
    options: dict[str, Any] = {"custom_objects": (CUSTOM_OBJECT_SPEC,), "warmup_samples": 2}
    export_keras_model(model, base_dir, "polled", **options)
    seen: dict[int, set[str]] = {}
    errors: list[dict[str, Any]] = []
    stop = threading.Event()

    with running_server(
        "--model_name=polled",
        f"--model_base_path={base_dir / 'polled'}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
    ) as server:

        def look() -> None:
            try:
                status, body = server.get("/v1/models/polled", timeout=10)
            except OSError:
                return
            if status != 200:
                return
            for entry in json.loads(body)["model_version_status"]:
                seen.setdefault(int(entry["version"]), set()).add(entry["state"])
                if entry["status"]["error_code"] != "OK":
                    errors.append(entry)

        def watch() -> None:
            while not stop.wait(0.02):
                look()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            wait_until(partial(serves_version, server, "polled", 1), what="version 1")
            for version in (2, 3, 4):
                # The export takes longer than a poll, so polls see its staging directory.
                result = export_keras_model(model, base_dir, "polled", **options)
                assert result.version == version
                wait_until(
                    partial(serves_version, server, "polled", version),
                    timeout=60,
                    what=f"version {version} AVAILABLE",
                )
        finally:
            stop.set()
            watcher.join(timeout=30)
        look()  # the watcher may have stopped just before the last version's AVAILABLE
        log = server.log()

    assert errors == []
    assert set(seen) == {1, 2, 3, 4}
    assert all("AVAILABLE" in states for states in seen.values()), seen
    assert LOAD_FAILURE.findall(log) == []
