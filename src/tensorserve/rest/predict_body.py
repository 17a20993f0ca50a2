"""A predict body, parsed when it arrives and decoded once the signature's dtypes are known.

Most predict bodies are nested arrays of numbers: ``{"instances": [...]}``,
``{"inputs": [...]}`` or ``{"inputs": {"name": [...], ...}}``, perhaps with a
plain ``"signature_name"``. Those are recognised on the bytes and their arrays
parsed by :mod:`tensorserve.rest.json_number_array`, without building Python
lists. Every other body, and any array that fast decoding declines for the
signature (a dtype the numbers do not fit, an input missing, several inputs
for one array), goes the general way
(:func:`parse_request_object` then :func:`decode_predict_inputs`), which owns
every error text; so the two ways differ only in speed.

Pure; a ``PredictBody`` is immutable and thread-safe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from tensorserve.rest.json_document import parse_request_object
from tensorserve.rest.json_number_array import parse_number_array
from tensorserve.rest.json_tensor import tensor_from_inferred
from tensorserve.rest.predict_request import RequestFormat, decode_predict_inputs
from tensorserve.servables.dtypes import DataType

# JSON whitespace only (not \f or \v), and a signature name with no escapes to undo.
_NAME_MEMBER = rb'"signature_name"[ \t\n\r]*:[ \t\n\r]*"([^"\\\x00-\x1f]*)"'
_HEAD = re.compile(
    rb"[ \t\n\r]*\{[ \t\n\r]*(?:" + _NAME_MEMBER + rb"[ \t\n\r]*,[ \t\n\r]*)?"
    rb'"(instances|inputs)"[ \t\n\r]*:[ \t\n\r]*(?=[\[{])'
)
# One named array of an "inputs" object, and the end of one: a "]" followed by the next
# member or the object's end, which no "]" inside a number array is.
_NAMED_ARRAY = re.compile(rb'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*(?=\[)')
_ARRAY_END = re.compile(rb"\][ \t\n\r]*(?:(,)(?=[ \t\n\r]*\")|\})")
_TAIL = re.compile(rb"[ \t\n\r]*(?:,[ \t\n\r]*" + _NAME_MEMBER + rb"[ \t\n\r]*)?\}[ \t\n\r]*\Z")
_FORMATS = {b"instances": RequestFormat.ROW, b"inputs": RequestFormat.COLUMNAR}
NUMBER_ARRAY_MIN_BYTES = 1024
"""Smaller bodies go the general way: its fixed cost is lower (7 µs against 23 µs for
``{"instances": [[0.5]]}``), and the number-array path wins once there are lists to
save: at 578 bytes of ``[[0.5], ...]`` 16 µs against 19, at 1,150 bytes 36 against 32,
at 2,305 bytes 65 against 36 (decoded to float32, collector frozen)."""


class PredictBody:
    """One predict body: its signature name, its format, and how to decode its tensors."""

    def __init__(
        self,
        body: bytes,
        signature_name: str,
        request_format: RequestFormat,
        *,
        document: Mapping[str, Any] | None = None,
        values: np.ndarray | Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self._body = body
        self._document = document
        self._values = values
        self.signature_name = signature_name
        self.request_format = request_format
        """``ROW`` for ``instances``; the response mirrors it."""

    @property
    def is_number_array(self) -> bool:
        """Whether the body was recognised as one nested array of numbers (fast decoding)."""
        return self._values is not None

    def decode(self, input_dtypes: Mapping[str, DataType]) -> dict[str, np.ndarray]:
        """Named input arrays for a signature whose inputs are ``input_dtypes`` (in name
        order). Raises ``ServingError`` with TensorFlow Serving's message."""
        fast = self._decode_number_arrays(input_dtypes)
        if fast is not None:
            return fast
        document = self._document
        if document is None:
            document, _ = parse_request_object(self._body)
        # Without the tokens true/false anywhere in the body, numbers cannot hide booleans,
        # which lets the vectorised decoding trust numpy's type inference.
        may_hold_bools = b"true" in self._body or b"false" in self._body
        inputs, _ = decode_predict_inputs(
            document, self.signature_name, input_dtypes, may_hold_bools=may_hold_bools
        )
        return inputs

    def _decode_number_arrays(
        self, input_dtypes: Mapping[str, DataType]
    ) -> dict[str, np.ndarray] | None:
        """The tensors from the parsed number arrays, or None to decode the general way."""
        values = self._values
        if values is None or not input_dtypes:
            return None
        if isinstance(values, np.ndarray):
            if len(input_dtypes) != 1:
                return None
            values = dict.fromkeys(input_dtypes, values)
        tensors = {}
        for name, dtype in input_dtypes.items():
            inferred = values.get(name)
            tensor = (
                None
                if inferred is None
                else tensor_from_inferred(inferred, dtype, may_hold_bools=False)
            )
            if tensor is None:
                return None
            tensors[name] = tensor
        return tensors


def parse_predict_body(body: bytes) -> PredictBody:
    """Parse ``body``; raises ``InvalidArgument`` with rapidjson's message if it is not a
    JSON object with a string ``signature_name`` (when present)."""
    fast = _number_array_body(body)
    if fast is not None:
        return fast
    document, signature_name = parse_request_object(body)
    request_format = RequestFormat.ROW if "instances" in document else RequestFormat.COLUMNAR
    return PredictBody(body, signature_name, request_format, document=document)


def _number_array_body(body: bytes) -> PredictBody | None:
    """The body as number arrays under ``instances`` or ``inputs``, or None."""
    if len(body) < NUMBER_ARRAY_MIN_BYTES:
        return None
    head = _HEAD.match(body)
    if head is None:
        return None
    named: dict[str, np.ndarray] | None = None
    if body[head.end()] == ord("{"):
        if head.group(2) != b"inputs":
            return None
        named, end = _named_arrays(body, head.end() + 1)
        if named is None:
            return None
    else:
        # The array ends at the body's last "]": a "]" inside a trailing signature name
        # makes the tail fail to match, and the general path takes the body.
        end = body.rfind(b"]") + 1
    tail = _TAIL.match(body, end)
    if tail is None:
        return None
    names = [group for group in (head.group(1), tail.group(1)) if group is not None]
    if len(names) > 1:
        return None  # a repeated key: the general parser decides which one counts
    try:
        signature_name = names[0].decode("utf-8") if names else ""
    except UnicodeDecodeError:
        return None
    values = named if named is not None else parse_number_array(body[head.end() : end])
    if values is None:
        return None
    return PredictBody(body, signature_name, _FORMATS[head.group(2)], values=values)


def _named_arrays(body: bytes, start: int) -> tuple[dict[str, np.ndarray] | None, int]:
    """The members of the object whose ``{`` is before ``start``, if every one is a
    number array under a plain, unique name; and the index after its ``}``."""
    arrays: dict[str, np.ndarray] = {}
    position = start
    while True:
        member = _NAMED_ARRAY.match(body, position)
        if member is None:
            return None, position
        # The array ends at the last "]" before the next quote (the next name, or the
        # signature name after the object): a find, not a scan of every "]".
        quote = body.find(b'"', member.end())
        close = body.rfind(b"]", member.end(), len(body) if quote < 0 else quote)
        end = _ARRAY_END.match(body, close) if close >= 0 else None
        if end is None:
            return None, position
        try:
            name = member.group(1).decode("utf-8")
        except UnicodeDecodeError:
            return None, position
        values = parse_number_array(body[member.end() : end.start() + 1])
        if values is None or name in arrays:
            return None, position
        arrays[name] = values
        position = end.end()
        if end.group(1) is None:  # the object's "}"
            return arrays, position
