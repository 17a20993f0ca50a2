"""Unit-test a ``servable.py`` without a server.

``load_servable`` loads a version directory exactly as the server does (its
own package, class discovery, signature checks, ``load``), with
``context.models`` answered by :class:`FakeModels`; the returned
:class:`LoadedServable` calls signatures with the server's input and output
checks and error mapping, and runs ``unload`` on exit::

    from tensorserve.testing import FakeModels, load_servable

    models = FakeModels({"mnist": lambda inputs: {"scores": np.ones((1, 10), np.float32)}})
    with load_servable("models/digits/1", models=models) as digits:
        out = digits.predict({"image": np.array([png_bytes], dtype=object)})
    assert models.calls[0].name == "mnist"

Errors are the server's ``ServingError`` (``err.code`` is e.g.
``Code.INVALID_ARGUMENT``). ``make_context`` builds a context for calling a
servable's methods directly.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import numpy as np

from tensorserve.core.errors import Code, InvalidArgument, NotFound, ServingError
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.python.api import RequestContext
from tensorserve.platforms.python.model_caller import Models, check_cycle
from tensorserve.platforms.python.python_model import PythonModel
from tensorserve.platforms.python.servable_loader import PythonServableLoader
from tensorserve.servables.signature import DEFAULT_SIGNATURE

__all__ = [
    "Code",
    "FakeModels",
    "LoadedServable",
    "ModelCall",
    "ServingError",
    "load_servable",
    "make_context",
]

FakeAnswer = Callable[[dict[str, np.ndarray]], Any] | Mapping[str, Any]
"""What a fake model answers: a function of the inputs, or fixed outputs. A
function may return an iterable of output dicts to fake a streaming model."""


@dataclasses.dataclass(frozen=True, slots=True)
class ModelCall:
    """One call a servable made through ``context.models``."""

    name: str
    inputs: dict[str, np.ndarray]
    version: int | None
    label: str | None
    signature_name: str


class FakeModels(Models):
    """``context.models`` answered by functions or fixed outputs, recording every call."""

    def __init__(self, answers: Mapping[str, FakeAnswer] | None = None) -> None:
        self._answers = dict(answers or {})
        self.calls: list[ModelCall] = []

    def _answer(
        self,
        name: str,
        inputs: Mapping[str, Any],
        version: int | None,
        label: str | None,
        signature_name: str,
    ) -> Any:
        check_cycle(name)
        arrays = {key: np.asarray(value) for key, value in inputs.items()}
        self.calls.append(ModelCall(name, arrays, version, label, signature_name))
        answer = self._answers.get(name)
        if answer is None:
            raise NotFound(f"Servable not found for request: Latest({name})")
        return answer(arrays) if callable(answer) else answer

    def predict(
        self,
        name: str,
        inputs: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
        signature_name: str = DEFAULT_SIGNATURE,
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        answer = self._answer(name, inputs, version, label, signature_name)
        if not isinstance(answer, Mapping):
            raise InvalidArgument(f"fake model '{name}' streams; call it with stream")
        return {key: np.asarray(value) for key, value in answer.items()}

    def stream(
        self,
        name: str,
        inputs: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
        signature_name: str = DEFAULT_SIGNATURE,
        timeout_s: float | None = None,
    ) -> Iterator[dict[str, np.ndarray]]:
        answer = self._answer(name, inputs, version, label, signature_name)
        chunks = [answer] if isinstance(answer, Mapping) else answer
        for chunk in chunks:
            yield {key: np.asarray(value) for key, value in chunk.items()}


def make_context(
    *,
    models: Models | None = None,
    name: str = "servable",
    version: int = 1,
    path: str | pathlib.Path = ".",
    signature_name: str = DEFAULT_SIGNATURE,
    deadline: float | None = None,
) -> Any:
    """A context for calling a servable's methods directly: it works both as the
    ``load`` context (``.path``) and as a request context (``.deadline``)."""
    return _TestContext(
        pathlib.Path(path),
        name,
        version,
        models or FakeModels(),
        logging.getLogger(f"tensorserve.servable.{name}"),
        signature_name,
        deadline,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _TestContext:
    path: pathlib.Path
    name: str
    version: int
    models: Models
    logger: logging.Logger
    signature_name: str
    deadline: float | None

    def time_left(self) -> float | None:
        return RequestContext.time_left(self)  # type: ignore[arg-type]


class LoadedServable:
    """A servable loaded from its directory; call its signatures as the server would."""

    def __init__(self, loader: PythonServableLoader) -> None:
        self._loader = loader
        self.model: PythonModel = loader.servable()

    @property
    def servable(self) -> Any:
        """The user's servable object."""
        return self.model.servable

    def predict(
        self,
        inputs: Mapping[str, Any],
        signature_name: str = DEFAULT_SIGNATURE,
        output_filter: tuple[str, ...] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        return self.model.predict(signature_name, dict(inputs), output_filter, timeout_s)

    def stream(
        self,
        inputs: Mapping[str, Any],
        signature_name: str = DEFAULT_SIGNATURE,
        timeout_s: float | None = None,
    ) -> Iterator[dict[str, np.ndarray]]:
        return self.model.stream(signature_name, dict(inputs), timeout_s)

    def unload(self) -> None:
        self._loader.unload()

    def __enter__(self) -> LoadedServable:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unload()


def load_servable(
    path: str | pathlib.Path,
    *,
    models: Models | None = None,
    name: str = "servable",
    version: int = 1,
) -> LoadedServable:
    """Load the servable in version directory ``path``; raises ServingError as the
    server would report a failed load."""
    loader = PythonServableLoader(ServableId(name, version), path, models or FakeModels())
    loader.load()
    return LoadedServable(loader)
