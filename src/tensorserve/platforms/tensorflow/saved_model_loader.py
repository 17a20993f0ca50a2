"""The Loader of one SavedModel version: a MetaGraph in its own graph and session.

Loaded as TensorFlow Serving loads it (:mod:`.saved_model_bundle`, TensorFlow's C++
``LoadSavedModel`` steps), so every SavedModel it serves loads here, TF1 exports
included, which ``tf.saved_model.load`` rejects; the session offers C++ callables for a
cheap per-call path.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from tensorserve.core import errors
from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.core.servable_id import ServableId

from .graph_session import GraphSession
from .options import TensorFlowOptions
from .runtime import OpError, meta_graph_pb2
from .saved_model_bundle import UnreadableSavedModel, load_into_session, read_saved_model
from .session_config import session_config
from .session_runner import SessionRunner, serving_error
from .tensorflow_model import TensorFlowModel
from .warmup import run_warmup

WarmupObserver = Callable[[str, float, int, "errors.ServingError | None"], None]
"""Told (model path, seconds, records read, error or None) after each warmup."""

RAM_ESTIMATE_MULTIPLIER = 1.2
"""TensorFlow Serving's heuristic: RAM = 1.2 x the size of the files on disk."""

logger = logging.getLogger(__name__)


def disk_size(path: str | os.PathLike[str]) -> int:
    """Bytes of every file under ``path``, recursively. Raises NotFound if it is absent."""
    root = Path(path)
    if not root.exists():
        raise errors.NotFound(f"{root}; No such file or directory")
    if root.is_file():
        return root.stat().st_size
    return sum(entry.stat().st_size for entry in root.rglob("*") if entry.is_file())


class SavedModelLoader(Loader):
    """Loads the SavedModel in one version directory. Construction is cheap; the
    manager serialises ``load``/``unload`` (not thread-safe itself)."""

    def __init__(
        self,
        servable_id: ServableId,
        path: str | os.PathLike[str],
        options: TensorFlowOptions | None = None,
        *,
        warmup_observer: WarmupObserver | None = None,
    ) -> None:
        self.servable_id = servable_id
        self.path = Path(path)
        self.options = options or TensorFlowOptions()
        self._model: TensorFlowModel | None = None
        self._warmup_observer = warmup_observer
        self.warmup_records = 0
        """Warmup records replayed by the last ``load``."""

    def estimate_resources(self) -> ResourceEstimate:
        """RAM as TensorFlow Serving estimates it: file sizes x 1.2 (reads the directory)."""
        return ResourceEstimate(ram_bytes=int(disk_size(self.path) * RAM_ESTIMATE_MULTIPLIER))

    def load(self) -> None:
        """Load the MetaGraph, restore variables, run warmup. Raises ServingError naming
        the path on failure, leaving nothing allocated."""
        meta_graph_def = self._read_meta_graph()
        session = self._open_session(meta_graph_def)
        try:
            model = TensorFlowModel(SessionRunner(session), meta_graph_def, self.options)
        except BaseException:
            session.close()
            raise
        started = time.monotonic()
        try:
            if self.options.enable_model_warmup:
                self.warmup_records = run_warmup(model, self.path, self.options.warmup_iterations)
        except BaseException as exc:
            model.close()
            self._observe_warmup(started, errors.as_serving_error(exc))
            raise
        if self.options.enable_model_warmup:
            self._observe_warmup(started, None)
        self._model = model
        logger.info("Loaded servable version %s from %s", self.servable_id, self.path)

    def _observe_warmup(self, started: float, error: errors.ServingError | None) -> None:
        if self._warmup_observer is not None:
            seconds = time.monotonic() - started
            self._warmup_observer(str(self.path), seconds, self.warmup_records, error)

    def unload(self) -> None:
        """Close the session and drop the graph, then collect garbage so TensorFlow's
        buffers go back to the allocator now rather than at some later collection."""
        model, self._model = self._model, None
        if model is not None:
            model.close()
            del model
        gc.collect()

    def servable(self) -> TensorFlowModel:
        """The loaded model; raises FailedPrecondition outside load..unload."""
        if self._model is None:
            raise errors.FailedPrecondition(f"Servable {self.servable_id} is not loaded")
        return self._model

    def _read_meta_graph(self) -> meta_graph_pb2.MetaGraphDef:
        """The MetaGraph whose tags are the options' tag set; NotFound, or DataLoss for a
        SavedModel proto that is there but unreadable, as TensorFlow Serving reports."""
        export_dir = os.fspath(self.path)
        tags = sorted(self.options.saved_model_tags)
        try:
            saved_model = read_saved_model(self.path)
        except UnreadableSavedModel as exc:
            raise _unreadable_saved_model(self.path, exc) from None
        for meta_graph in saved_model.meta_graphs:
            if set(meta_graph.meta_info_def.tags) == set(tags):
                return meta_graph
        raise errors.NotFound(
            "Could not find meta graph def matching supplied tags: "
            f"{{ {' '.join(tags)} }}. To inspect available tag-sets in the SavedModel, "
            f"please use the SavedModel CLI: `saved_model_cli` (export dir: {export_dir})"
        )

    def _open_session(self, meta_graph_def: meta_graph_pb2.MetaGraphDef) -> GraphSession:
        """A session over the MetaGraph, variables restored and init op run; errors
        name the export directory and keep TensorFlow's code and message."""
        config = session_config(self.options)
        export_dir = os.fspath(self.path)
        try:
            return load_into_session(self.path, meta_graph_def, config)
        except OpError as exc:
            error = serving_error(exc)
            raise type(error)(
                f"Failed to load SavedModel at {export_dir}: {exc.message}", error.code
            ) from None
        except errors.ServingError as exc:
            message = f"Failed to load SavedModel at {export_dir}: {exc.message}"
            raise type(exc)(message, exc.code) from None
        except Exception as exc:
            raise errors.Internal(
                f"Failed to load SavedModel at {export_dir}: {type(exc).__name__}: {exc}"
            ) from None


def _unreadable_saved_model(
    export_dir: Path, unreadable: UnreadableSavedModel
) -> errors.ServingError:
    """The error TensorFlow Serving reports when ``export_dir``'s SavedModel proto
    cannot be read: NOT_FOUND only when neither file is there; a file that is there
    but does not parse (or cannot be read) is DATA_LOSS naming it (``ReadBinaryProto``'s
    "Can't parse ... as binary proto"), so a corrupt or half-copied file is not
    reported as a missing one."""
    file, cause = unreadable.file, unreadable.cause
    if file is None:
        return errors.NotFound(
            "Could not find SavedModel .pb or .pbtxt at supplied export directory path: "
            f"{export_dir}"
        )
    if isinstance(cause, OSError) and cause.errno is not None:
        return errors.DataLoss(f"Could not read {file}: {cause.strerror}")
    return errors.DataLoss(f"Can't parse {file} as {unreadable.kind} proto")
