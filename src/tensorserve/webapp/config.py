"""Typed settings of the web app, parsed once at the edge (the CLI) and passed in."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class InputScale(enum.Enum):
    """How pixel values are mapped when a model takes float tensors instead of image bytes."""

    UNIT = "unit"  # [0, 1]: pixel / 255
    SYMMETRIC = "symmetric"  # [-1, 1]: pixel / 127.5 - 1
    RAW = "raw"  # [0, 255]: the pixel values unchanged


@dataclass(frozen=True)
class WebAppConfig:
    """Everything the web app needs to run; immutable, so safe to share between threads."""

    server_url: str = "http://127.0.0.1:8501"
    """Base URL of the TensorFlow-Serving-compatible REST API."""
    images_dir: Path = Path("predict_images")
    """Where uploads and their JSON sidecars are kept (created on demand)."""
    max_upload_bytes: int = 10 * 1024 * 1024
    """Largest accepted request body (exactly this size is accepted); larger ones get 413."""
    max_form_parts: int = 1000
    """Most fields (files included) in an upload form; more get 413."""
    max_form_field_bytes: int = 500_000
    """Largest text field of an upload form (the image is a file, bounded by the body)."""
    max_image_pixels: int = 40_000_000
    """Largest accepted width x height; guards against decompression bombs (413)."""
    request_timeout_s: float = 10.0
    """Per-request timeout towards the model server; exceeding it gives 504."""
    connect_timeout_s: float = 3.0
    """Timeout for opening a connection to the model server."""
    models: tuple[str, ...] = ()
    """Model names to use when the server cannot list its models."""
    input_scale: InputScale = InputScale.UNIT
    """Scaling of pixels for models with numeric (non-encoded) image inputs."""
    top_k: int = 5
    """How many classes a prediction shows."""
    history_page_size: int = 12
    """Uploads per history page."""
    history_limit: int = 1000
    """Most uploads kept; the oldest are deleted beyond this."""
    extra_flask_config: dict[str, object] = field(default_factory=dict)
    """Passed to ``app.config`` last (tests use it for ``TESTING``)."""

    @property
    def timeout_description(self) -> str:
        """The request timeout as people read it, for error hints."""
        return f"{self.request_timeout_s:g} s"
