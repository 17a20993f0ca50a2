"""A V2 JSON request header whose large ``data`` number arrays are parsed natively.

An image batch sent as V2 JSON (``tritonclient.http`` without ``binary_data``, or
a KServe client) is one ``"data": [...]`` of tens of thousands of numbers.
orjson turns each number into a Python float (and each nested list into a
list) before numpy copies them out again. Here each input's ``data`` array of
at least :data:`MIN_ARRAY_BYTES` is cut out of the text, parsed by
:func:`~tensorserve.rest.json_number_array.parse_number_array` (simdjson, no
Python object per number) and replaced by a short marker string; orjson parses
what is left, and each marker found as an input's ``data`` becomes its array.

The result is used only when it cannot differ from the general parse except in
speed: every marker must come back as the ``data`` of an input, and each array
must decode without error for the input's datatype (any numbers for FP32 and
FP64; integers in range for the integer types). Otherwise, or when any part
fails to parse, the whole header is parsed again the general way
(:func:`~tensorserve.rest.json_document.parse_json`), which owns every error
message: a refused request reads exactly as before.

Pure and thread-safe.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson

from tensorserve.rest.json_document import parse_json
from tensorserve.rest.json_number_array import parse_number_array
from tensorserve.v2.datatypes import BY_NAME

MIN_ARRAY_BYTES = 4096
"""Smaller arrays are left in the text: orjson's lists cost less than a cut at that size."""

_DATA = re.compile(rb'"data"[ \t\n\r]*:[ \t\n\r]*(?=\[)')
_MARKER = "\x00tensorserve-data-"
"""Marker strings start so; a header that could spell one (``\\u0000``) is not cut."""
_MARKER_ESCAPED = b"\\u0000"


def parse_request_header(header: bytes) -> Any:
    """The header's JSON document, as :func:`parse_json` gives it, except that large
    number arrays under ``inputs[i].data`` may be flat or nested numpy arrays (float64
    or int64) that decode for the input's datatype."""
    if len(header) >= MIN_ARRAY_BYTES and _MARKER_ESCAPED not in header:
        document = _with_native_arrays(header)
        if document is not None:
            return document
    return parse_json(header)


def _with_native_arrays(header: bytes) -> Any:
    """The document with its large ``data`` arrays as numpy, or None to parse generally."""
    arrays: list[np.ndarray] = []
    pieces: list[bytes] = []
    position = 0
    for member in _DATA.finditer(header):
        start = member.end()
        # A number array holds no quote and no brace: its "]" is the last one before
        # the next of either (the next member's name, or the end of the input object).
        limit = _next_of(header, start, b'"', b"}")
        end = header.rfind(b"]", start, limit) + 1
        if end - start < MIN_ARRAY_BYTES:
            continue
        values = parse_number_array(header[start:end])
        if values is None:
            continue
        pieces += (header[position:start], b'"\\u0000tensorserve-data-%d"' % len(arrays))
        arrays.append(values)
        position = end
    if not arrays:
        return None
    pieces.append(header[position:])
    try:
        document = orjson.loads(b"".join(pieces))
    except orjson.JSONDecodeError:
        return None
    inputs = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(inputs, list):
        return None
    placed = 0
    for entry in inputs:
        data = entry.get("data") if isinstance(entry, dict) else None
        if not (isinstance(data, str) and data.startswith(_MARKER)):
            continue
        values = arrays[int(data[len(_MARKER) :])]
        if not _decodes_as(values, entry.get("datatype")):
            return None
        entry["data"] = values
        placed += 1
    # A marker anywhere else (a parameter named "data", a repeated key) would change
    # what the request says: parse it the general way.
    return document if placed == len(arrays) else None


def _next_of(text: bytes, start: int, *needles: bytes) -> int:
    """The index of the first of ``needles`` at or after ``start``, or ``len(text)``."""
    found = [index for needle in needles if (index := text.find(needle, start)) >= 0]
    return min(found, default=len(text))


def _decodes_as(values: np.ndarray, datatype_name: Any) -> bool:
    """Whether ``values`` decode without error for the V2 datatype named ``datatype_name``,
    as the general path decodes the same numbers (``json_tensors``)."""
    datatype = BY_NAME.get(datatype_name) if isinstance(datatype_name, str) else None
    if datatype is None or not datatype.json:
        return False
    kind = datatype.numpy.kind
    if kind == "f":
        return True
    if kind not in "iu" or values.dtype.kind != "i":
        return False  # BOOL and BYTES take no numbers; integer types take no floats
    info = np.iinfo(datatype.numpy)
    return bool(info.min <= int(values.min()) and int(values.max()) <= info.max)
