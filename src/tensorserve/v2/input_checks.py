"""A V2 request's inputs checked against the signature that will run them.

V2 requests name each input's datatype and shape, so a mismatch can be
reported before any data is read, in Triton's words, as INVALID_ARGUMENT
(HTTP 400): an unknown or repeated input, a missing one, a datatype other than
the signature's, a shape that contradicts a known dimension, or an unknown
requested output. The texts are those of the REST codec
(``inference_request.decode_inputs``), which checks the same while it reads
JSON. Pure and thread-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.signature import Signature
from tensorserve.v2.datatypes import Datatype, for_dtype


class Declared(Protocol):
    """What the checks read of an input (REST's ``InputTensor`` has it too)."""

    @property
    def name(self) -> str: ...
    @property
    def datatype(self) -> Datatype: ...
    @property
    def shape(self) -> tuple[int, ...]: ...


class DeclaredInput(NamedTuple):
    """One input as a V2 request declares it, before its data is read."""

    name: str
    datatype: Datatype
    shape: tuple[int, ...]


def check_inputs(model: str, signature: Signature, declared: Sequence[Declared]) -> None:
    """Raise InvalidArgument unless ``declared`` fits ``signature``'s inputs."""
    seen: set[str] = set()
    for tensor in declared:
        if tensor.name in seen:
            raise InvalidArgument(f"input '{tensor.name}' appears more than once in the request")
        seen.add(tensor.name)
        info = signature.inputs.get(tensor.name)
        if info is None:
            raise InvalidArgument(f"unexpected inference input '{tensor.name}' for model '{model}'")
        expected = for_dtype(info.dtype, tensor.name)
        if tensor.datatype.name != expected.name:
            raise InvalidArgument(
                f"inference input '{tensor.name}' data-type is '{tensor.datatype.name}', "
                f"but model '{model}' expects '{expected.name}'"
            )
        if info.shape is not None and not _compatible(info.shape, tensor.shape):
            raise InvalidArgument(
                f"unexpected shape for input '{tensor.name}' for model '{model}'. "
                f"Expected {list(info.shape)}, got {list(tensor.shape)}"
            )
    missing = [n for n in signature.inputs if n not in seen and n not in signature.defaults]
    if missing:
        raise InvalidArgument(
            f"expected {len(signature.inputs)} inputs but got {len(declared)} inputs for model "
            f"'{model}': missing {', '.join(repr(name) for name in missing)}"
        )


def check_outputs(model: str, signature: Signature, requested: Sequence[str]) -> None:
    """Raise InvalidArgument for a requested output ``signature`` lacks (before the model runs)."""
    for name in requested:
        if name not in signature.outputs:
            raise InvalidArgument(f"unexpected inference output '{name}' for model '{model}'")


def _compatible(expected: tuple[int, ...], actual: tuple[int, ...]) -> bool:
    if len(expected) != len(actual):
        return False
    return all(e < 0 or e == a for e, a in zip(expected, actual, strict=True))
