"""Fixtures of the TensorFlow platform tests: small SavedModels built once per session,
and a loader factory that unloads everything it loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.tensorflow.options import TensorFlowOptions
from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader
from tensorserve.platforms.tensorflow.tensorflow_model import TensorFlowModel
from tests.support import saved_models

LoadModel = Callable[..., TensorFlowModel]


@pytest.fixture(scope="session")
def built_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Version directories of the small test models, built once per test session."""
    root = tmp_path_factory.mktemp("saved_models")
    builders = {
        "half_plus_two": saved_models.write_half_plus_two,
        "two_input": saved_models.write_two_input_model,
        "string": saved_models.write_string_model,
        "classifier": saved_models.write_classifier_model,
        "blocking": saved_models.write_blocking_model,
    }
    return {name: build(root / name / "1") for name, build in builders.items()}


@pytest.fixture(scope="session")
def loaded_models(built_models: dict[str, Path]) -> Iterator[dict[str, TensorFlowModel]]:
    """Every built model loaded once with default options (unloading costs a full
    garbage collection, about half a second with TensorFlow imported)."""
    loaders = {
        name: SavedModelLoader(ServableId(name, 1), path, TensorFlowOptions())
        for name, path in built_models.items()
    }
    for loader in loaders.values():
        loader.load()
    yield {name: loader.servable() for name, loader in loaders.items()}
    for loader in loaders.values():
        loader.unload()


@pytest.fixture
def load_model() -> Iterator[LoadModel]:
    """``load_model(path, **options)`` loads a version and returns its model; every
    loader is unloaded at teardown."""
    loaders: list[SavedModelLoader] = []

    def load(path: Path, **options: Any) -> TensorFlowModel:
        loader = SavedModelLoader(ServableId("test", 1), path, TensorFlowOptions(**options))
        loader.load()
        loaders.append(loader)
        return loader.servable()

    yield load
    for loader in loaders:
        loader.unload()
