"""Tests of merging task inputs along dim 0 and splitting outputs back."""

from __future__ import annotations

import numpy as np
import pytest

from tensorserve.batching.tensor_batch import merge_inputs, split_outputs, task_batch_size
from tensorserve.core.errors import FailedPrecondition, InvalidArgument


def test_task_batch_size_is_the_shared_dim0() -> None:
    assert task_batch_size({"a": np.zeros((3, 2)), "b": np.zeros((3,))}) == 3


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "Batching Run() must have at least one input tensor"),
        ({"a": np.float32(1)}, "Batching Run() input tensors must have at least one dimension"),
        (
            {"a": np.zeros(2), "b": np.zeros(3)},
            "Batching Run() input tensors must have equal 0th-dimension size",
        ),
    ],
)
def test_task_batch_size_rejects_unbatchable_inputs(inputs: dict, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        task_batch_size(inputs)
    assert caught.value.message == message


def test_single_task_passes_through_without_copy() -> None:
    x = np.arange(4).reshape(2, 2)
    assert merge_inputs([{"x": x}], 0, False)["x"] is x


def test_merge_concatenates_and_pads_with_first_row_of_last_task() -> None:
    merged = merge_inputs([{"x": np.array([[1]])}, {"x": np.array([[2], [3]])}], 2, False)
    np.testing.assert_array_equal(merged["x"], [[1], [2], [3], [2], [2]])


def test_merge_of_strings_of_different_widths() -> None:
    merged = merge_inputs([{"s": np.array([b"a"])}, {"s": np.array([b"longer"])}], 0, False)
    assert merged["s"].tolist() == [b"a", b"longer"]


def test_merge_rejects_differing_ranks_even_with_padding() -> None:
    with pytest.raises(FailedPrecondition):
        merge_inputs([{"x": np.zeros((1, 2))}, {"x": np.zeros((1, 2, 2))}], 0, True)


def test_split_returns_views_per_task_and_drops_padding() -> None:
    out = np.arange(12).reshape(6, 2)
    parts = split_outputs({"y": out}, [1, 3], 2)
    assert [p["y"].shape[0] for p in parts] == [1, 3]
    np.testing.assert_array_equal(parts[1]["y"], out[1:4])
    assert np.shares_memory(parts[1]["y"], out)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (np.float32(1), "Batched output tensor has 0 dimensions"),
        (
            np.zeros(5),
            "Batched output tensor's 0th dimension does not equal the sum of the 0th "
            "dimension sizes of the input tensors",
        ),
    ],
)
def test_split_rejects_outputs_not_batched_along_dim0(output: np.ndarray, message: str) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        split_outputs({"y": output}, [1, 3], 0)
    assert caught.value.message == message
