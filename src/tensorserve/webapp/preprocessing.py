"""Turns an uploaded file into a validated image, and an image into a model's input.

Validation reads the header before any pixels (so decompression bombs are refused before
they are decoded) and accepts only formats browsers display. Conversion follows the model's
signature: an encoded-image (``DT_STRING``) input gets PNG bytes as ``{"b64": ...}``; a
numeric input gets the image resized, converted to grayscale or RGB, and scaled to its
shape and dtype. Pure functions of their arguments; thread-safe.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from tensorserve.webapp import errors
from tensorserve.webapp.config import InputScale
from tensorserve.webapp.metadata import SignatureSpec, TensorSpec

ACCEPTED_FORMATS: dict[str, str] = {
    "PNG": "png",
    "JPEG": "jpg",
    "GIF": "gif",
    "WEBP": "webp",
    "BMP": "bmp",
}
"""PIL format name -> the extension a saved upload gets."""

FLOAT_DTYPES = frozenset({"DT_FLOAT", "DT_DOUBLE"})
INTEGER_DTYPES = frozenset({"DT_UINT8", "DT_INT8", "DT_INT16", "DT_INT32", "DT_INT64"})
MAX_FREE_SIDE = 256
"""Longest side used when a model leaves its image height and width unknown."""
_CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L"})
"""Modes of 16-bit grayscale PNGs; among the accepted formats only those give ``I``."""


@dataclass(frozen=True)
class ValidatedImage:
    """An upload that decoded as an accepted image format within the pixel limit."""

    image: Image.Image
    extension: str
    data: bytes
    """The upload's original bytes (saved as-is, under ``extension``)."""

    def png_bytes(self) -> bytes:
        """The image re-encoded as PNG, which drops metadata and odd encodings."""
        image = self.image
        if image.mode not in ("1", "L", "LA", "RGB", "RGBA"):
            has_alpha = "A" in image.getbands() or "transparency" in image.info
            image = image.convert("RGBA" if has_alpha else "RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()


@dataclass(frozen=True)
class ModelInput:
    """One row of a row-format predict request and a human description of how it was made."""

    signature_name: str
    instance: Any
    description: str


def validate_image(data: bytes, max_pixels: int) -> ValidatedImage:
    """Decode ``data`` as an image, or raise the error that says why it can't be used."""
    if not data:
        raise errors.EmptyUpload()
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as bomb:
        raise errors.ImageTooManyPixels(max_pixels, _png_dimensions(data)) from bomb
    except UnidentifiedImageError as unknown:
        raise errors.NotAnImage() from unknown
    except (OSError, SyntaxError, ValueError) as broken:
        raise errors.CorruptImage(str(broken) or type(broken).__name__) from broken
    if image.format not in ACCEPTED_FORMATS:
        raise errors.NotAnImage(f"{image.format} images are not accepted.")
    width, height = image.size
    if width * height > max_pixels:
        raise errors.ImageTooManyPixels(max_pixels, (width, height))
    if width == 0 or height == 0:
        raise errors.CorruptImage("the image has no pixels")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as broken:
        raise errors.CorruptImage(str(broken) or type(broken).__name__) from broken
    extension = ACCEPTED_FORMATS[image.format]
    return ValidatedImage(image=_eight_bit(image), extension=extension, data=data)


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit grayscale (PNG's ``I;16``/``I`` modes) scaled to ``L``.

    Pillow's own conversion clips every value above 255 to white; TensorFlow's decoders
    scale instead, so the web app scales too.
    """
    if image.mode not in _SIXTEEN_BIT_MODES:
        return image
    wide = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
    return Image.fromarray(np.round(wide / 257.0).astype(np.uint8))


def build_model_input(
    upload: ValidatedImage, model: str, signature: SignatureSpec, scale: InputScale
) -> ModelInput:
    """The predict row for ``signature``'s single image input, built from ``upload``."""
    if len(signature.inputs) != 1:
        names = ", ".join(spec.alias for spec in signature.inputs) or "none"
        raise errors.UnsupportedSignature(
            model, f"signature {signature.name!r} has inputs {names}; one image input is needed"
        )
    spec = signature.inputs[0]
    if spec.dtype == "DT_STRING":
        if spec.shape is not None and len(spec.shape) > 1:
            raise errors.UnsupportedSignature(
                model, f"string input {spec.alias!r} has shape {spec.shape_text}"
            )
        encoded = base64.b64encode(upload.png_bytes()).decode("ascii")
        return ModelInput(
            signature.name, {"b64": encoded}, f"PNG bytes as base64 into {spec.alias!r}"
        )
    if spec.dtype not in FLOAT_DTYPES | INTEGER_DTYPES:
        raise errors.UnsupportedSignature(model, f"input {spec.alias!r} is {spec.dtype}")
    height, width, channels, flatten = _pixel_layout(model, spec, upload.image.size)
    resized = upload.image.convert(_CHANNEL_MODES[channels]).resize(
        (width, height), Image.Resampling.LANCZOS
    )
    pixels = np.asarray(resized, dtype=np.float32).reshape(height, width, channels)
    if spec.dtype in FLOAT_DTYPES:
        values: Any = np.round(_scaled(pixels, scale), 6)
        range_text = f"float, scale {scale.value}"
    else:
        values = pixels.astype(np.int64)
        range_text = "integers 0-255"
    if flatten:
        values = values.reshape(-1)
    elif spec.shape is not None and len(spec.shape) == 3:
        values = values.reshape(height, width)
    colour = {1: "grayscale", 3: "RGB", 4: "RGBA"}[channels]
    return ModelInput(
        signature.name,
        values.tolist(),
        f"resized to {width}x{height} {colour}, {range_text}, into {spec.alias!r} "
        f"{spec.shape_text}",
    )


def _pixel_layout(
    model: str, spec: TensorSpec, image_size: tuple[int, int]
) -> tuple[int, int, int, bool]:
    """(height, width, channels, flatten) for a numeric image input of shape ``spec.shape``."""
    shape = spec.shape
    if shape is None or len(shape) not in (2, 3, 4):
        raise errors.UnsupportedSignature(
            model, f"input {spec.alias!r} has shape {spec.shape_text}, not an image shape"
        )
    if len(shape) == 2:
        size = shape[1]
        for channels in (1, 3):
            side = math.isqrt(size // channels) if size > 0 and size % channels == 0 else 0
            if side > 0 and side * side * channels == size:
                return side, side, channels, True
        raise errors.UnsupportedSignature(
            model, f"input {spec.alias!r} of {size} values is not a square image"
        )
    channels = shape[3] if len(shape) == 4 else 1
    if channels == -1:
        channels = 3
    if channels not in _CHANNEL_MODES:
        raise errors.UnsupportedSignature(
            model, f"input {spec.alias!r} has {channels} channels; 1, 3 or 4 are supported"
        )
    height, width = _fill_unknown_sides(shape[1], shape[2], image_size)
    return height, width, channels, False


def _fill_unknown_sides(height: int, width: int, image_size: tuple[int, int]) -> tuple[int, int]:
    """Replace ``-1`` sides with the image's own, keeping its aspect and at most MAX_FREE_SIDE."""
    image_width, image_height = image_size
    if height > 0 and width > 0:
        return height, width
    if height > 0:
        return height, max(1, round(image_width * height / image_height))
    if width > 0:
        return max(1, round(image_height * width / image_width)), width
    shrink = min(1.0, MAX_FREE_SIDE / max(image_width, image_height))
    return max(1, round(image_height * shrink)), max(1, round(image_width * shrink))


def _scaled(pixels: np.ndarray, scale: InputScale) -> np.ndarray:
    if scale is InputScale.UNIT:
        return pixels / 255.0
    if scale is InputScale.SYMMETRIC:
        return pixels / 127.5 - 1.0
    return pixels


def _png_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG header, for the message; ``None`` for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None
