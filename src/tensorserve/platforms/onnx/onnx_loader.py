"""The Loader of one ONNX version directory: ``model.onnx`` in an ONNX Runtime session."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tensorserve.core import errors
from tensorserve.core.loader import ResourceEstimate
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.array_model import ArrayModel, ArrayModelLoader
from tensorserve.servables.signature import DEFAULT_SIGNATURE

from .onnx_session import SessionRunner, open_session, session_signature
from .options import MODEL_FILENAME, OnnxOptions

PLATFORM = "onnx"

RAM_ESTIMATE_MULTIPLIER = 1.2
"""As for SavedModels: RAM = 1.2 x the model file's size."""

logger = logging.getLogger(__name__)


class OnnxLoader(ArrayModelLoader):
    """Loads ``<version>/model.onnx``. Construction is cheap; the manager serialises
    ``load``/``unload`` (not thread-safe itself)."""

    def __init__(
        self,
        servable_id: ServableId,
        path: str | os.PathLike[str],
        options: OnnxOptions | None = None,
    ) -> None:
        self.servable_id = servable_id
        self.path = Path(path)
        self.options = options or OnnxOptions()
        self._model: ArrayModel | None = None

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILENAME

    def estimate_resources(self) -> ResourceEstimate:
        try:
            size = self.model_file.stat().st_size
        except OSError:
            size = 0  # load reports the missing file with its own error
        return ResourceEstimate(ram_bytes=int(size * RAM_ESTIMATE_MULTIPLIER))

    def load(self) -> None:
        """Open the session. Raises NotFound without the file, DataLoss when
        ONNX Runtime rejects it; either way the version ends with that error."""
        if not self.model_file.is_file():
            raise errors.NotFound(f"Could not find {MODEL_FILENAME} in {self.path}")
        session = open_session(self.model_file, self.options)
        signature = session_signature(session)
        self._model = ArrayModel(
            PLATFORM,
            {DEFAULT_SIGNATURE: signature},
            {DEFAULT_SIGNATURE: SessionRunner(session)},
            close=[session],
            calls_at_once=self.options.calls_at_once(),
            compute_only=True,
        )
        logger.info("Loaded ONNX servable version %s from %s", self.servable_id, self.path)
