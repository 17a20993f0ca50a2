"""Deterministic sample inputs shared by the warmup writer and the export verifier.

A ``SampleBatch`` holds the tensors the source model takes and, for image signatures,
the same pixels PNG-encoded (lossless, at the model's size, so the decoded signature
input equals the raw tensors exactly). Pure apart from PNG encoding; thread-safe.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tensorserve.export.signatures import ImageLayout
from tensorserve.export.source_model import SourceModel

UNKNOWN_DIM_SIZE = 2


@dataclasses.dataclass(frozen=True)
class SampleBatch:
    """``count`` examples: raw ``tensors`` by input name, and ``encoded_images`` if any."""

    count: int
    tensors: dict[str, np.ndarray]
    encoded_images: tuple[bytes, ...] = ()


def unsupported_input(source: SourceModel) -> str | None:
    """Name the first input we cannot invent values for (strings), else None."""
    for name, spec in source.input_specs.items():
        if not (spec.dtype.is_floating or spec.dtype.is_integer or spec.dtype.is_bool):
            return name
    return None


def random_tensors(source: SourceModel, count: int, seed: int = 0) -> SampleBatch:
    """Random values for every input: normal floats, 0/1 integers, random booleans."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, spec in source.input_specs.items():
        dims = spec.shape.as_list()[1:] if spec.shape.rank is not None else []
        shape = [count, *(UNKNOWN_DIM_SIZE if d is None else d for d in dims)]
        dtype = spec.dtype.as_numpy_dtype
        if spec.dtype.is_floating:
            tensors[name] = rng.standard_normal(shape).astype(dtype)
        elif spec.dtype.is_bool:
            tensors[name] = rng.integers(0, 2, shape).astype(bool)
        else:
            tensors[name] = rng.integers(0, 2, shape).astype(dtype)
    return SampleBatch(count, tensors)


def random_images(layout: ImageLayout, scale: float, count: int, seed: int = 0) -> SampleBatch:
    """Random uint8 images at the model's size, as PNG bytes and as scaled tensors."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, [count, layout.height, layout.width, layout.channels])
    pixels = pixels.astype(np.uint8)
    encoded = tuple(tf.io.encode_png(image).numpy() for image in pixels)
    scaled = pixels.astype(np.float32) * np.float32(scale)
    tensor = scaled.astype(layout.dtype.as_numpy_dtype)
    if not layout.has_channel_axis:
        tensor = tensor[..., 0]
    return SampleBatch(count, {layout.input_name: tensor}, encoded)
