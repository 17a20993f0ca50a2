"""A server's batching: one scheduler from the parameters file, wrapping every loader;
with per-model parameters, each version's own ``batching_params.pbtxt`` or no batching."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tensorserve.batching.batching_model import BatchingModel
from tensorserve.batching.metrics_sink import NullBatchingMetrics
from tensorserve.batching.options import BatchingOptions
from tensorserve.batching.server_batching import ServerBatching
from tensorserve.config.text_protos import read_batching_parameters_file
from tensorserve.core.errors import InvalidArgument
from tensorserve.core.fakes import FakeLoader


@pytest.fixture
def per_model() -> Iterator[ServerBatching]:
    batching = ServerBatching(
        BatchingOptions(max_batch_size=8, num_batch_threads=3),
        NullBatchingMetrics(),
        per_model=True,
    )
    yield batching
    batching.stop()


def test_the_parameters_file_sizes_the_shared_scheduler(tmp_path: Path) -> None:
    path = tmp_path / "batching.config"
    path.write_text("max_batch_size { value: 8 } num_batch_threads { value: 3 }")
    batching = ServerBatching(read_batching_parameters_file(path), NullBatchingMetrics())
    try:
        loader = batching.wrap(FakeLoader("m"), lambda: tmp_path)
        loader.load()
        assert isinstance(loader.servable(), BatchingModel)
        assert loader.servable().options.max_batch_size == 8
        assert batching.scheduler.num_batch_threads == 3
        loader.unload()
    finally:
        batching.stop()


def test_per_model_a_version_with_its_own_file_is_batched_as_it_says(
    per_model: ServerBatching, tmp_path: Path
) -> None:
    (tmp_path / "batching_params.pbtxt").write_text(
        "max_batch_size { value: 4 } batch_timeout_micros { value: 500 } "
        "num_batch_threads { value: 9 }"
    )
    loader = per_model.wrap(FakeLoader("own"), lambda: tmp_path)
    loader.load()
    model = loader.servable()
    assert isinstance(model, BatchingModel)
    assert (model.options.max_batch_size, model.options.batch_timeout_micros) == (4, 500)
    assert model.options.num_batch_threads == 3  # the server's scheduler, not the file's
    loader.unload()


def test_per_model_a_version_without_a_file_is_not_batched(
    per_model: ServerBatching, tmp_path: Path
) -> None:
    inner = FakeLoader("plain")
    loader = per_model.wrap(inner, lambda: tmp_path)
    loader.load()
    assert loader.servable() is inner.servable()
    loader.unload()
    assert inner.unload_calls == 1


def test_per_model_a_file_that_does_not_parse_fails_the_load_and_unloads(
    per_model: ServerBatching, tmp_path: Path
) -> None:
    (tmp_path / "batching_params.pbtxt").write_text("max_batch_size: 4")
    inner = FakeLoader("bad")
    loader = per_model.wrap(inner, lambda: tmp_path)
    with pytest.raises(InvalidArgument) as caught:
        loader.load()
    assert caught.value.message.startswith(
        f"Invalid protobuf file: '{tmp_path / 'batching_params.pbtxt'}': "
        "Error parsing text-format tensorflow.serving.BatchingParameters: 1:"
    )
    assert inner.unload_calls == 1
