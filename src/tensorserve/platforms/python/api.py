"""The public API a ``servable.py`` is written against.

Users import these as ``tensorserve.Servable``, ``tensorserve.Signature``,
``tensorserve.TensorSpec`` and ``tensorserve.InvalidInput``; that is the
stable surface. Inside tensorserve the declaration class is called
:class:`ServableSignature`, so it is never confused with the protocol-neutral
``tensorserve.servables.signature.Signature`` the data plane works with.

Plain Python with numpy: importing it starts nothing and needs no server.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from tensorserve.servables.dtypes import DataType, from_numpy

if TYPE_CHECKING:
    from tensorserve.platforms.python.model_caller import Models

DEFAULT_METHOD = "predict"


class InvalidInput(Exception):
    """Raise from a servable method to refuse a request: the client gets
    INVALID_ARGUMENT (HTTP 400) with this message, not an internal error."""


def _data_type(dtype: object) -> DataType:
    """The TensorFlow DataType for ``"float32"``, ``"string"``, ``np.int64``, ..."""
    if isinstance(dtype, DataType):
        return dtype
    if dtype in ("string", "bytes", "str", bytes, str, object):
        return DataType.DT_STRING
    try:
        return from_numpy(np.dtype(dtype))  # type: ignore[call-overload]
    except (TypeError, KeyError):
        raise ValueError(f"unsupported tensor dtype {dtype!r}") from None


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class TensorSpec:
    """One declared input or output: its dtype and shape.

    ``dtype`` is a numpy name or type (``"float32"``, ``np.int64``, ``"bool"``)
    or ``"string"`` for byte strings (numpy ``object`` arrays of ``bytes``).
    ``shape`` lists dimensions, ``-1`` (or None) for any size; ``shape=None``
    accepts any rank.
    """

    dtype: DataType
    shape: tuple[int, ...] | None

    def __init__(self, dtype: object, shape: Sequence[int | None] | None = None) -> None:
        object.__setattr__(self, "dtype", _data_type(dtype))
        dims = None if shape is None else tuple(-1 if d is None else int(d) for d in shape)
        if dims is not None and any(d < -1 for d in dims):
            raise ValueError(f"invalid shape {list(shape or ())}: dimensions are >= -1")
        object.__setattr__(self, "shape", dims)


@dataclasses.dataclass(frozen=True, slots=True)
class ServableSignature:
    """A computation a servable offers (public name ``tensorserve.Signature``).

    ``method`` names the servable method that computes it (default
    ``predict``); ``streaming=True`` marks a method that is a generator or
    async generator yielding one output dict per chunk.
    """

    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    method: str = DEFAULT_METHOD
    streaming: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class LoadContext:
    """What ``Servable.load`` is given: where the version lives and who it is.

    ``models`` calls other served models (``context.models.predict(...)``).
    """

    path: pathlib.Path
    name: str
    version: int
    models: Models
    logger: logging.Logger


@dataclasses.dataclass(frozen=True, slots=True)
class RequestContext:
    """What each signature method is given with its inputs.

    ``deadline`` is a ``time.monotonic()`` instant (None: no deadline);
    ``models`` calls other served models within it.
    """

    name: str
    version: int
    signature_name: str
    models: Models
    logger: logging.Logger
    deadline: float | None = None

    def time_left(self) -> float | None:
        """Seconds until the deadline (never negative); None when there is none."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.monotonic(), 0.0)


class Servable:
    """Base class of a Python servable; subclass it in ``servable.py``.

    Declare ``signatures``; define the methods they name (``predict`` by
    default), and optionally ``load(context)``, ``unload()``, and
    ``classify``/``regress``. Methods may be ``def`` or ``async def``.
    ``max_concurrency`` caps how many calls run in this version at once
    (None: no cap). The constructor takes no arguments.
    """

    signatures: ClassVar[Mapping[str, ServableSignature]] = {}
    max_concurrency: ClassVar[int | None] = None

    def load(self, context: LoadContext) -> Any:
        """Prepare to serve (read weights, ...). Runs once, before any request."""

    def unload(self) -> Any:
        """Release what ``load`` acquired. Runs once no request holds the version."""
