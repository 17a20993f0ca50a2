"""``digits``: any image of a handwritten digit -> the MNIST CNN's labels and scores.

The exported ``mnist`` model expects what MNIST is: a white digit on black, about
20x20 pixels inside a 28x28 frame, centred by its centre of mass. Photos are
none of that, so this servable prepares each uploaded image (any size, colour or
format) the way MNIST was made: grayscale, inverted when the background is
light, cropped to the ink, scaled into 20x20, centred by mass in 28x28. Then it
calls ``mnist`` in-process through ``context.models`` and returns its
``classes`` and ``scores``. The ``each`` signature streams: one result per
image, as each is ready.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

import tensorserve

MNIST = "mnist"
MNIST_SIGNATURE = "predict_tensor"
MNIST_INPUT = "image"
FRAME = 28
BOX = 20
INK = 0.25
"""Share of the brightest pixel above which a pixel counts as part of the digit."""

IMAGES = tensorserve.TensorSpec("string", [-1])
CLASSES = tensorserve.TensorSpec("string", [-1, -1])
SCORES = tensorserve.TensorSpec("float32", [-1, -1])


def load_pixels(encoded: bytes) -> np.ndarray:
    """Decode any PIL-readable image to grayscale float pixels, transparency on white."""
    try:
        image: Image.Image = Image.open(io.BytesIO(encoded))
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA", "P"):
            rgba = image.convert("RGBA")
            image = Image.new("RGBA", rgba.size, "white")
            image.alpha_composite(rgba)
        return np.asarray(image.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise tensorserve.InvalidInput(f"not a readable image: {exc}") from None


def prepare(encoded: bytes) -> np.ndarray:
    """One encoded image as the ``[28, 28, 1]`` float input MNIST's CNN takes."""
    gray = load_pixels(encoded)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:  # dark ink on a light background: MNIST is the reverse
        gray = 255.0 - gray
        border = 255.0 - border
    ink = np.clip(gray - np.median(border), 0.0, None)
    peak = float(ink.max())
    frame = np.zeros((FRAME, FRAME), np.float32)
    if peak <= 0:
        return frame[:, :, None]
    ink /= peak
    rows, cols = np.nonzero(ink > INK)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = Image.fromarray(np.uint8(crop * 255)).resize(size, Image.Resampling.LANCZOS)
    digit = np.asarray(small, dtype=np.float32) / 255.0
    top, left = (FRAME - digit.shape[0]) // 2, (FRAME - digit.shape[1]) // 2
    frame[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return _centre_by_mass(frame)[:, :, None]


def _centre_by_mass(frame: np.ndarray) -> np.ndarray:
    total = float(frame.sum())
    if total <= 0:
        return frame
    rows, cols = np.indices(frame.shape)
    dy = round(FRAME / 2 - float((rows * frame).sum()) / total)
    dx = round(FRAME / 2 - float((cols * frame).sum()) / total)
    return np.roll(frame, (dy, dx), axis=(0, 1))


class Digits(tensorserve.Servable):
    """Prepares images and asks ``mnist``; see the module docstring."""

    signatures = {
        "serving_default": tensorserve.Signature(
            inputs={"image_bytes": IMAGES}, outputs={"classes": CLASSES, "scores": SCORES}
        ),
        "each": tensorserve.Signature(
            inputs={"image_bytes": IMAGES},
            outputs={"classes": CLASSES, "scores": SCORES},
            method="each",
            streaming=True,
        ),
    }

    def predict(self, inputs: dict[str, np.ndarray], context: Any) -> dict[str, Any]:
        if inputs["image_bytes"].size == 0:
            raise tensorserve.InvalidInput("send at least one image")
        batch = np.stack([prepare(encoded) for encoded in inputs["image_bytes"]])
        return self._classify(batch, context)

    def each(self, inputs: dict[str, np.ndarray], context: Any) -> Iterator[dict[str, Any]]:
        for encoded in inputs["image_bytes"]:
            yield self._classify(prepare(encoded)[None], context)

    def _classify(self, batch: np.ndarray, context: Any) -> dict[str, Any]:
        out = context.models.predict(MNIST, {MNIST_INPUT: batch}, signature_name=MNIST_SIGNATURE)
        return {"classes": out["classes"], "scores": out["scores"]}
