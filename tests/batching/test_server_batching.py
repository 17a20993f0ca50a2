"""A server's batching: one scheduler from the parameters file, wrapping every loader."""

from __future__ import annotations

from pathlib import Path

from tensorserve.batching.batching_loader import BatchingLoader
from tensorserve.batching.metrics_sink import NullBatchingMetrics
from tensorserve.batching.server_batching import ServerBatching
from tensorserve.core.fakes import FakeLoader


def test_the_parameters_file_sizes_the_shared_scheduler(tmp_path: Path) -> None:
    path = tmp_path / "batching.config"
    path.write_text("max_batch_size { value: 8 } num_batch_threads { value: 3 }")
    batching = ServerBatching.from_file(str(path), NullBatchingMetrics())
    try:
        assert isinstance(batching.wrap(FakeLoader("m")), BatchingLoader)
        assert batching.scheduler.num_batch_threads == 3
    finally:
        batching.stop()


def test_without_a_file_tensorflow_serving_s_defaults_apply() -> None:
    batching = ServerBatching.from_file("", NullBatchingMetrics())
    batching.stop()
