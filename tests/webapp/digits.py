"""Digit images and a small real classifier for them, shared by the fake server and tests.

The classifier normalises an image the way MNIST digits are made (crop to the ink, fit a
20x20 box, centre the mass in 28x28) and picks the nearest of ten templates rendered from
Pillow's bundled font, so it recognises font-rendered and hand-drawn digits deterministically.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

INK_THRESHOLD = 32


def render_digit(digit: int, size: int = 200, *, fg: int = 255, bg: int = 0) -> Image.Image:
    """A grayscale ``size``x``size`` image of ``digit`` in Pillow's bundled font."""
    image = Image.new("L", (size, size), bg)
    font = ImageFont.load_default(size=int(size * 0.7))
    draw = ImageDraw.Draw(image)
    draw.text((size / 2, size / 2), str(digit), fill=fg, font=font, anchor="mm")
    return image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mnist_normalise(image: Image.Image) -> np.ndarray:
    """A 28x28 float array in [0, 1]: the ink cropped, fit to 20x20, mass centred."""
    gray = image.convert("L")
    ink = np.asarray(gray) > INK_THRESHOLD
    if not ink.any():
        return np.zeros((28, 28), dtype=np.float64)
    rows, cols = np.nonzero(ink)
    crop = gray.crop((cols.min(), rows.min(), cols.max() + 1, rows.max() + 1))
    scale = 20 / max(crop.size)
    box = crop.resize(
        (max(1, round(crop.width * scale)), max(1, round(crop.height * scale))),
        Image.Resampling.LANCZOS,
    )
    values = np.asarray(box, dtype=np.float64) / 255.0
    mass = values.sum() or 1.0
    centre_y = (values.sum(axis=1) * (np.arange(box.height) + 0.5)).sum() / mass
    centre_x = (values.sum(axis=0) * (np.arange(box.width) + 0.5)).sum() / mass
    top = min(28 - box.height, max(0, round(14 - centre_y)))
    left = min(28 - box.width, max(0, round(14 - centre_x)))
    canvas = np.zeros((28, 28), dtype=np.float64)
    canvas[top : top + box.height, left : left + box.width] = values
    return canvas


class DigitClassifier:
    """Nearest-template digit classifier; immutable after construction, so thread-safe."""

    def __init__(self) -> None:
        self._templates = np.stack([self._features(render_digit(d)) for d in range(10)])

    def scores(self, image: Image.Image) -> list[float]:
        """Softmax of the cosine similarity to each digit's template."""
        similarity = self._templates @ self._features(image)
        exponent = np.exp((similarity - similarity.max()) * 25.0)
        return [float(v) for v in exponent / exponent.sum()]

    @staticmethod
    def _features(image: Image.Image) -> np.ndarray:
        normalised = mnist_normalise(image)
        blurred = Image.fromarray((normalised * 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(1.5)
        )
        vector = np.asarray(blurred, dtype=np.float64).reshape(-1)
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector
