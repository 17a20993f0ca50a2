"""Tests of BatchingOptions defaults, validation messages and padded sizes."""

from __future__ import annotations

import pytest

from tensorserve.batching import BatchingOptions
from tensorserve.batching.options import default_num_batch_threads
from tensorserve.core.errors import InvalidArgument


def test_defaults_are_tensorflow_servings() -> None:
    options = BatchingOptions()
    assert options.max_batch_size == 1000
    assert options.batch_timeout_micros == 0
    assert options.max_enqueued_batches == 10
    assert options.num_batch_threads == default_num_batch_threads()
    assert options.allowed_batch_sizes == ()
    assert options.pad_variable_length_inputs is False


def test_last_allowed_batch_size_must_match_max_batch_size() -> None:
    with pytest.raises(InvalidArgument) as caught:
        BatchingOptions(max_batch_size=8, allowed_batch_sizes=(2, 4))
    assert caught.value.message == (
        "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 4; expected 8"
    )


def test_allowed_batch_sizes_must_increase() -> None:
    with pytest.raises(InvalidArgument, match="monotonically increasing"):
        BatchingOptions(max_batch_size=8, allowed_batch_sizes=(4, 2, 8))


@pytest.mark.parametrize(("size", "padded"), [(1, 2), (2, 2), (3, 4), (5, 8), (8, 8)])
def test_padded_size_is_next_allowed_size(size: int, padded: int) -> None:
    options = BatchingOptions(max_batch_size=8, allowed_batch_sizes=(2, 4, 8))
    assert options.padded_size(size) == padded


def test_padded_size_without_allowed_sizes_is_the_size() -> None:
    assert BatchingOptions().padded_size(7) == 7


def test_large_batch_splitting_sets_the_execution_batch_size() -> None:
    options = BatchingOptions(
        max_batch_size=64,
        enable_large_batch_splitting=True,
        max_execution_batch_size=16,
        allowed_batch_sizes=(8, 16),
    )
    assert options.execution_batch_size == 16
    unsplit = BatchingOptions(max_batch_size=64, max_execution_batch_size=16)
    assert unsplit.execution_batch_size == 64
