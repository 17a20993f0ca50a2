"""The models the benchmarks serve: half_plus_two, a small MNIST-shaped CNN and a
MobileNetV2.

half_plus_two comes from TensorFlow Serving's test data in ``../shared`` when it is
there, else from ``tests/support/saved_models.py``'s builder, else from a
``tf.Module`` written here. The CNN and the MobileNetV2 are always built here (fixed
seed, no download). Building imports TensorFlow (~5 s); the MobileNetV2 is also
exported by ``tensorserve export`` (~20 s of CPU, with its verified ONNX twin).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_HALF_PLUS_TWO = (
    REPO_ROOT / ".." / "shared" / "testdata" / "tfserving" / "saved_model_half_plus_two_cpu"
)
SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class BenchModel:
    """A servable on disk plus one request for it. Immutable; ``sample`` is not copied."""

    name: str
    base_path: Path
    """The directory of numbered version directories (``--model_base_path``)."""
    version_dir: str
    """The version directory's name (TF Serving's test data zero-pads it)."""
    input_name: str
    output_name: str
    sample: np.ndarray
    """One request's input tensor, batch of 1."""
    row_input: Any
    """``sample`` as the JSON value of one TF Serving "instances" row."""
    origin: str
    v2_shape: tuple[int, ...] | None = None
    """The shape of one sample as a V2 tensor, when not ``sample``'s own: V2 checks
    shapes against the signature, as Triton does (half_plus_two's ``x`` is [-1, 1])."""

    @property
    def v2_sample(self) -> np.ndarray:
        """``sample`` shaped for V2 requests."""
        return self.sample if self.v2_shape is None else self.sample.reshape(self.v2_shape)

    @property
    def version(self) -> int:
        return int(self.version_dir)

    @property
    def version_path(self) -> Path:
        return self.base_path / self.version_dir

    def rest_body(self) -> bytes:
        """TensorFlow Serving's row-format predict body for ``sample``."""
        return json.dumps({"instances": [self.row_input]}).encode()

    def v2_body(self) -> bytes:
        """The Open Inference (V2) protocol body for ``sample`` (MLServer's REST API)."""
        tensor = {
            "name": self.input_name,
            "shape": list(self.v2_sample.shape),
            "datatype": "FP32",
            "data": self.sample.ravel().tolist(),
        }
        return json.dumps({"inputs": [tensor]}).encode()


def half_plus_two(work_dir: Path) -> BenchModel:
    """half_plus_two with x = [1.0] (answer y = [2.5])."""
    base, origin = _half_plus_two_base(work_dir)
    latest = max((entry.name for entry in base.iterdir() if entry.name.isdigit()), key=int)
    return BenchModel(
        name="half_plus_two",
        base_path=base,
        version_dir=latest,
        input_name="x",
        output_name="y",
        sample=np.array([1.0], np.float32),
        row_input=1.0,
        origin=origin,
        v2_shape=(1, 1),
    )


def small_cnn(work_dir: Path, seed: int = 0) -> BenchModel:
    """Export Keras' "simple MNIST convnet" shape (conv32-pool-conv64-pool-dense10) as
    ``work_dir/small_cnn/1`` with random fixed weights; input float [-1, 28, 28, 1]."""
    tf = _tensorflow()
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> Any:
        scale = np.sqrt(2.0 / np.prod(shape[:-1]))
        return tf.Variable(rng.normal(0.0, scale, shape).astype(np.float32))

    class SmallConvNet(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.bias1 = weights(3, 3, 1, 32), tf.Variable(tf.zeros([32]))
            self.conv2, self.bias2 = weights(3, 3, 32, 64), tf.Variable(tf.zeros([64]))
            self.dense, self.bias3 = weights(5 * 5 * 64, 10), tf.Variable(tf.zeros([10]))

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        def serve(self, images: Any) -> dict[str, Any]:
            hidden = tf.nn.relu(tf.nn.conv2d(images, self.conv1, 1, "VALID") + self.bias1)
            hidden = tf.nn.max_pool2d(hidden, 2, 2, "VALID")
            hidden = tf.nn.relu(tf.nn.conv2d(hidden, self.conv2, 1, "VALID") + self.bias2)
            hidden = tf.nn.max_pool2d(hidden, 2, 2, "VALID")
            logits = tf.matmul(tf.reshape(hidden, [-1, 5 * 5 * 64]), self.dense) + self.bias3
            return {"probabilities": tf.nn.softmax(logits)}

    module = SmallConvNet()
    base = work_dir / "small_cnn"
    tf.saved_model.save(module, os.fspath(base / "1"), signatures={SIGNATURE: module.serve})
    # Three decimals keep the JSON body short and parse to the same float32 everywhere.
    pixels = np.round(rng.random((28, 28, 1)), 3)
    return BenchModel(
        name="small_cnn",
        base_path=base,
        version_dir="1",
        input_name="images",
        output_name="probabilities",
        sample=pixels[np.newaxis].astype(np.float32),
        row_input=pixels.tolist(),
        origin="built here (tf.Module, Keras MNIST convnet shape)",
    )


def mobilenet_v2(work_dir: Path, size: int = 224, seed: int = 0) -> BenchModel:
    """Keras' MobileNetV2 (3.5 M parameters, 1000 classes) for ``size`` x ``size`` RGB
    images, seeded, exported by ``tensorserve export`` as ``work_dir/mobilenet_v2/1``
    with its verified ONNX twin; input float [-1, size, size, 3] named ``input_layer``.

    Freshly initialised batch norms (mean 0, variance 1) leave every activation near
    zero, so the untrained network answers 0.001 for every class and the twin would be
    "verified" on constants; the moving statistics are set from one seeded batch
    first, so outputs differ by image and verification compares something.
    """
    _tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3))
    rng = np.random.default_rng(seed)
    calibration = rng.uniform(-1.0, 1.0, (8, size, size, 3)).astype(np.float32)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # the next training call's batch statistics become the moving ones
    model(calibration, training=True)
    for layer in norms:
        layer.momentum = 0.99
    keras_file = work_dir / "mobilenet_v2.keras"
    model.save(keras_file)
    export = [
        sys.executable, "-m", "tensorserve", "export", os.fspath(keras_file),
        "--name=mobilenet_v2", f"--base-dir={work_dir}", "--version=1",
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(export, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tensorserve export failed:\n{done.stderr[-2000:]}")
    twin_lines = [line for line in done.stderr.splitlines() if "ONNX twin" in line]
    sample = rng.uniform(-1.0, 1.0, (1, size, size, 3)).astype(np.float32)
    return BenchModel(
        name="mobilenet_v2",
        base_path=work_dir / "mobilenet_v2",
        version_dir="1",
        input_name="input_layer",
        output_name="predictions",
        sample=sample,
        row_input=sample[0].tolist(),
        origin=f"keras.applications.MobileNetV2({size}x{size}, seed {seed}), tensorserve "
        f"export: {'; '.join(twin_lines) or 'no twin line'}",
    )


def _half_plus_two_base(work_dir: Path) -> tuple[Path, str]:
    if SHARED_HALF_PLUS_TWO.is_dir():
        return SHARED_HALF_PLUS_TWO.resolve(), "../shared/testdata (TF Serving's test model)"
    base = work_dir / "half_plus_two"
    builder_path = REPO_ROOT / "tests" / "support" / "saved_models.py"
    if builder_path.is_file():
        spec = importlib.util.spec_from_file_location("bench_saved_models", builder_path)
        if spec is not None and spec.loader is not None:
            builder = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(builder)
            builder.write_half_plus_two(base / "1")
            return base, "tests/support/saved_models.py builder"
    tf = _tensorflow()

    class HalfPlusTwo(tf.Module):  # type: ignore[misc,name-defined]
        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": 0.5 * x + 2.0}

    module = HalfPlusTwo()
    tf.saved_model.save(module, os.fspath(base / "1"), signatures={SIGNATURE: module.serve})
    return base, "built here (tf.Module)"


def _tensorflow() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf
