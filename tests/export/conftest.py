"""Small Keras models and a helper that exports one to a temporary base directory.

``export_keras_model`` is the reusable entry point (the end-to-end tests export with it
before serving through the real server). Models are built with fixed seeds so runs
compare equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tensorserve.export.exporter import ExportOptions, ExportResult, export_model


def export_keras_model(
    model: Any,
    base_dir: Path,
    name: str,
    *,
    labels: Sequence[str] = (),
    **options: Any,
) -> ExportResult:
    """Save ``model`` as ``.keras`` beside ``base_dir`` and export it under ``base_dir``.

    ``options`` are ``ExportOptions`` fields (``image_input``, ``warmup_samples``, ...).
    """
    source_dir = base_dir.parent / f"{base_dir.name}-sources"
    source_dir.mkdir(parents=True, exist_ok=True)
    model_path = source_dir / f"{name}.keras"
    model.save(model_path)
    if labels:
        labels_path = source_dir / f"{name}-labels.txt"
        labels_path.write_text("\n".join(labels) + "\n", encoding="utf-8")
        options["labels_path"] = labels_path
    return export_model(
        ExportOptions(model_path=model_path, name=name, base_dir=base_dir, **options)
    )


def build_custom_layer_model() -> Any:
    """x (4 floats) -> Dense -> ScaledTanh -> Dense(3 softmax) named ``probabilities``."""
    import keras

    from tests.export.custom_layers import ScaledTanh

    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,), name="features")
    hidden = ScaledTanh(name="scaled_tanh")(keras.layers.Dense(8)(inputs))
    outputs = keras.layers.Dense(3, activation="softmax", name="probabilities")(hidden)
    return keras.Model(inputs, outputs)


def build_multi_io_model() -> Any:
    """Inputs ``a`` (3 floats) and ``b`` (2x2 floats); outputs ``total`` and ``logits``."""
    import keras

    keras.utils.set_random_seed(2)
    a = keras.Input((3,), name="a")
    b = keras.Input((2, 2), name="b")
    joined = keras.layers.Concatenate()([a, keras.layers.Flatten()(b)])
    total = keras.layers.Dense(1, name="total")(joined)
    logits = keras.layers.Dense(4, name="logits")(joined)
    return keras.Model([a, b], [total, logits])


def build_image_model(channels: int = 1, classes: int = 3) -> Any:
    """A tiny CNN over 8x8 images with ``channels`` channels; softmax over ``classes``."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, channels), name="pixels")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    """An empty, not yet created ``serving_model`` directory."""
    return tmp_path / "serving_model"


def build_dict_io_model() -> Any:
    """Inputs and outputs given as dicts; output keys differ from the layer names."""
    import keras

    keras.utils.set_random_seed(4)
    inputs = {"left": keras.Input((2,), name="left"), "right": keras.Input((2,), name="right")}
    joined = keras.layers.Concatenate()([inputs["left"], inputs["right"]])
    outputs = {"doubled": joined * 2.0, "summed": keras.layers.Dense(1)(joined)}
    return keras.Model(inputs, outputs)
