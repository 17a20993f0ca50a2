"""A stand-in for the demo's trained MNIST model that needs no training.

Training the demo CNN takes about 40 s on 2 cores; tests that only need a model the demo
can export and that names its sample digits correctly use a template matcher instead:
``image`` (28, 28, 1) floats in [0, 1] -> ``probabilities`` over the ten digits, scored by
the cosine between the image and each sample digit. Each sample is therefore classified
as itself, deterministically, and the model has the demo model's input and output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tensorserve.demo.setup import DemoPaths, write_sample_images
from tensorserve.demo.training import CLASS_COUNT, IMAGE_SIZE, load_mnist_split, to_model_input

SHARPNESS = 20.0
"""Multiplies the cosines so the softmax is confident (the best match gets > 0.5)."""


def build_template_digit_model(sample_images: list[Path]) -> Any:
    """A Keras model whose Dense weights are the unit-norm sample digits 0..9."""
    import keras
    from PIL import Image

    pixels = np.stack([np.asarray(Image.open(path), dtype=np.uint8) for path in sample_images])
    templates = to_model_input(pixels).reshape(CLASS_COUNT, -1)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="image")
    flat = keras.layers.Flatten()(inputs)
    unit = keras.layers.UnitNormalization()(flat)
    scores = keras.layers.Dense(CLASS_COUNT, use_bias=False, name="cosines")(unit)
    logits = keras.layers.Rescaling(SHARPNESS)(scores)
    outputs = keras.layers.Softmax(name="probabilities")(logits)
    model = keras.Model(inputs, outputs, name="template_digits")
    model.get_layer("cosines").set_weights([templates.T])
    return model


def write_pretrained_demo_files(root: Path) -> DemoPaths:
    """Write the demo's sample digits and ``model_dir/mnist.keras`` (a template model).

    ``prepare_demo(root)`` then skips training; it still writes labels and exports.
    """
    paths = DemoPaths.under(root)
    write_sample_images(paths.samples_dir, load_mnist_split())
    model = build_template_digit_model(paths.sample_images())
    paths.model_dir.mkdir(parents=True, exist_ok=True)
    model.save(paths.keras_model)
    return paths
