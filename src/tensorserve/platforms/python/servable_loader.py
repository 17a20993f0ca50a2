"""The Loader of one Python servable version: ``servable.py`` in a version directory.

``estimate_resources`` runs no user code (TensorFlow Serving calls it before
deciding to load): it reads ``ram_bytes`` from an optional ``servable.json``,
else the directory's size on disk. ``load`` imports the version's code as a
package of its own (:mod:`.version_package`), finds the one ``Servable``
subclass the module defines, checks that its class can serve the signatures
it declares, and runs its ``load``. Any failure leaves nothing imported and is
raised as a ServingError naming the path, so the version ends in END with
that error in model status. ``unload`` runs the servable's ``unload`` (only
after the manager quiesced the version) and removes its modules.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tensorserve.core import errors
from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.core.servable_id import ServableId
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo

from .api import LoadContext, Servable, ServableSignature
from .model_caller import Models
from .python_model import PythonModel
from .version_package import VersionPackage

SERVABLE_FILE = "servable.py"
OPTIONS_FILE = "servable.json"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")

logger = logging.getLogger(__name__)


def is_python_servable(path: str | Path) -> bool:
    """A directory with ``servable.py`` and no ``saved_model.pb(txt)``."""
    root = Path(path)
    if not (root / SERVABLE_FILE).is_file():
        return False
    return not any((root / name).exists() for name in SAVED_MODEL_FILES)


def directory_size(path: Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def neutral_signatures(
    owner: type[Servable], declared: Mapping[str, ServableSignature]
) -> dict[str, Signature]:
    """The declared signatures as the data plane describes them; raises InvalidArgument
    for one the class cannot serve (missing method, streaming flag that does not
    match the method)."""
    if not isinstance(declared, Mapping) or not declared:
        raise errors.InvalidArgument(f"{owner.__name__} declares no signatures")
    result: dict[str, Signature] = {}
    for name, spec in declared.items():
        if not isinstance(spec, ServableSignature):
            raise errors.InvalidArgument(
                f"signature '{name}' of {owner.__name__} is {type(spec).__name__}, "
                "not a tensorserve.Signature"
            )
        method = getattr(owner, spec.method, None)
        if not callable(method):
            raise errors.InvalidArgument(
                f"signature '{name}' names method '{spec.method}', "
                f"which {owner.__name__} does not define"
            )
        generator = inspect.isgeneratorfunction(method) or inspect.isasyncgenfunction(method)
        if spec.streaming and not generator:
            raise errors.InvalidArgument(
                f"signature '{name}' is streaming but {owner.__name__}.{spec.method} "
                "is not a generator"
            )
        if generator and not spec.streaming:
            raise errors.InvalidArgument(
                f"{owner.__name__}.{spec.method} is a generator but signature '{name}' "
                "is not declared streaming=True"
            )
        result[name] = Signature(
            name,
            PREDICT_METHOD,
            {a: TensorInfo(a, t.dtype, t.shape) for a, t in spec.inputs.items()},
            {a: TensorInfo(a, t.dtype, t.shape) for a, t in spec.outputs.items()},
        )
    return result


def find_servable_class(module: Any) -> type[Servable]:
    """The one Servable subclass defined in ``module`` (imported ones do not count)."""
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Servable)
        and value is not Servable
        and value.__module__ == module.__name__
    ]
    if len(found) != 1:
        names = ", ".join(sorted(c.__name__ for c in found)) or "none"
        raise errors.InvalidArgument(
            f"{SERVABLE_FILE} must define exactly one tensorserve.Servable subclass; found {names}"
        )
    return found[0]


class PythonServableLoader(Loader):
    """Loads the Python servable in one version directory. The manager serialises
    ``load``/``unload``; construction only remembers where the version lives."""

    def __init__(self, servable_id: ServableId, path: str | Path, models: Models) -> None:
        self.servable_id = servable_id
        self.path = Path(path)
        self._models = models
        self._package = VersionPackage(servable_id.name, servable_id.version, self.path)
        self._model: PythonModel | None = None

    @property
    def package_name(self) -> str:
        """The module name this version's code is imported under."""
        return self._package.name

    def estimate_resources(self) -> ResourceEstimate:
        """A declared ``ram_bytes`` in servable.json, else the directory's size."""
        options = self._options()
        declared = options.get("ram_bytes")
        if declared is not None:
            if not isinstance(declared, int) or declared < 0:
                raise errors.InvalidArgument(
                    f"{self.path / OPTIONS_FILE}: ram_bytes must be a non-negative integer"
                )
            return ResourceEstimate(ram_bytes=declared)
        if not self.path.is_dir():
            raise errors.NotFound(f"{self.path}; No such file or directory")
        return ResourceEstimate(ram_bytes=directory_size(self.path))

    def load(self) -> None:
        try:
            self._model = self._load()
        except errors.ServingError as exc:
            self._package.remove()
            raise type(exc)(
                f"Failed to load Python servable at {self.path}: {exc.message}"
            ) from None
        except BaseException as exc:
            self._package.remove()
            logger.error("Python servable at %s failed to load:\n%s", self.path, _trace(exc))
            raise errors.Internal(
                f"Failed to load Python servable at {self.path}: {type(exc).__name__}: {exc}"
            ) from None
        logger.info("Loaded Python servable %s from %s", self.servable_id, self.path)

    def _load(self) -> PythonModel:
        if not (self.path / SERVABLE_FILE).is_file():
            raise errors.NotFound(f"no {SERVABLE_FILE} in {self.path}")
        module = self._package.import_servable()
        cls = find_servable_class(module)
        signatures = neutral_signatures(cls, cls.signatures)
        servable = cls()
        context = LoadContext(
            self.path,
            self.servable_id.name,
            self.servable_id.version,
            self._models,
            logging.getLogger(f"tensorserve.servable.{self.servable_id.name}"),
        )
        result = servable.load(context)
        if inspect.isawaitable(result):
            asyncio.run(_awaited(result))
        return PythonModel(
            servable,
            cls.signatures,
            signatures,
            name=self.servable_id.name,
            version=self.servable_id.version,
            models=self._models,
        )

    def unload(self) -> None:
        """Run the servable's ``unload`` (errors logged), then forget its modules."""
        model, self._model = self._model, None
        if model is not None:
            model.close()
            del model
        self._package.remove()
        gc.collect()

    def servable(self) -> PythonModel:
        if self._model is None:
            raise errors.FailedPrecondition(f"Servable {self.servable_id} is not loaded")
        return self._model

    def _options(self) -> dict[str, Any]:
        path = self.path / OPTIONS_FILE
        if not path.is_file():
            return {}
        try:
            options = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise errors.InvalidArgument(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(options, dict):
            raise errors.InvalidArgument(f"{path} must hold a JSON object")
        return options


def _trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
