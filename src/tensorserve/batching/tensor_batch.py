"""Concatenating the inputs of many tasks along dim 0, and splitting outputs back.

Pure functions over numpy arrays, with TensorFlow Serving's ``BatchingSession``
checks and messages. Splitting returns views (``np.split``); merging copies
once per input (``np.concatenate``) and not at all for a batch of one task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tensorserve.core.errors import FailedPrecondition, InvalidArgument

Tensors = Mapping[str, np.ndarray]


def task_batch_size(inputs: Tensors) -> int:
    """The shared dim 0 of one request's inputs; INVALID_ARGUMENT when they differ."""
    if not inputs:
        raise InvalidArgument("Batching Run() must have at least one input tensor")
    size: int | None = None
    for array in inputs.values():
        if array.ndim == 0:
            raise InvalidArgument("Batching Run() input tensors must have at least one dimension")
        if size is None:
            size = array.shape[0]
        elif array.shape[0] != size:
            raise InvalidArgument("Batching Run() input tensors must have equal 0th-dimension size")
    assert size is not None
    return int(size)


def _shape_error(name: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"Tensors with name '{name}' from different tasks have different shapes and padding "
        "is turned off. Set pad_variable_length_inputs to true, or ensure that all tensors "
        "with the same name have equal dimensions starting with the first dim."
    )


def _pad_to(array: np.ndarray, inner_shape: tuple[int, ...]) -> np.ndarray:
    """``array`` grown along dims >= 1 to ``inner_shape``, filled with its first element."""
    if array.shape[1:] == inner_shape:
        return array
    fill = array.flat[0] if array.size else np.zeros((), array.dtype)
    padded = np.full((array.shape[0], *inner_shape), fill, dtype=array.dtype)
    padded[tuple(slice(0, n) for n in array.shape)] = array
    return padded


def merge_inputs(
    task_inputs: Sequence[Tensors], padding_rows: int, pad_variable_length: bool
) -> dict[str, np.ndarray]:
    """One array per input name: the tasks' arrays stacked along dim 0.

    ``padding_rows`` copies of the first row of the last task are appended.
    Inputs whose dims >= 1 differ between tasks are padded when
    ``pad_variable_length``, else fail with FAILED_PRECONDITION. Every task
    has the same input names (the queue key guarantees it).
    """
    if len(task_inputs) == 1 and padding_rows == 0:
        return dict(task_inputs[0])
    merged: dict[str, np.ndarray] = {}
    for name in task_inputs[0]:
        arrays = [inputs[name] for inputs in task_inputs]
        inner = arrays[0].shape[1:]
        if any(a.shape[1:] != inner for a in arrays):
            if not pad_variable_length or any(a.ndim != arrays[0].ndim for a in arrays):
                raise _shape_error(name)
            inner = tuple(max(dims) for dims in zip(*(a.shape[1:] for a in arrays), strict=True))
            arrays = [_pad_to(a, inner) for a in arrays]
        if padding_rows:
            last = arrays[-1]
            arrays.append(np.repeat(last[:1], padding_rows, axis=0))
        merged[name] = np.concatenate(arrays, axis=0)
    return merged


def split_outputs(
    outputs: Tensors, task_sizes: Sequence[int], padding_rows: int
) -> list[dict[str, np.ndarray]]:
    """Each task's rows of every output (views); the padding rows are dropped.

    FAILED_PRECONDITION when an output is a scalar or its dim 0 is not the
    batch size (the model does not batch along dim 0).
    """
    expected = sum(task_sizes) + padding_rows
    for array in outputs.values():
        if array.ndim == 0:
            raise FailedPrecondition("Batched output tensor has 0 dimensions")
        if array.shape[0] != expected:
            raise FailedPrecondition(
                "Batched output tensor's 0th dimension does not equal the sum of the "
                "0th dimension sizes of the input tensors"
            )
    if len(task_sizes) == 1 and padding_rows == 0:
        return [dict(outputs)]
    offsets = np.cumsum(task_sizes)[:-1]
    per_task: list[dict[str, np.ndarray]] = [{} for _ in task_sizes]
    total = expected - padding_rows
    for name, array in outputs.items():
        pieces = np.split(array[:total] if padding_rows else array, offsets)
        for task_outputs, piece in zip(per_task, pieces, strict=True):
            task_outputs[name] = piece
    return per_task
