"""The bytes of one rectangular JSON array of numbers to a numpy array, with no Python objects.

An image batch arrives as ``[[[[0.1,0.2,...]]]]``: tens of thousands of numbers
in tens of thousands of one-element lists. Parsing it into Python lists and
letting numpy discover the nesting costs far more than the numbers themselves
(each list is a garbage-collected object, each number a Python float). Here the
shape is checked with one C-speed pass of ``bytes.translate`` and one
comparison, and simdjson (``pysimdjson``) parses the text and writes its numbers
straight into one flat buffer of doubles or 64-bit integers.

* **Structure.** With whitespace and every number's characters removed, what is
  left (the *skeleton*: brackets and commas) must be exactly the skeleton of a
  regular array of the shape read off its first element at each level, which is
  built by repetition and compared in one go. Any string, literal, object or
  other character survives the removal and fails the comparison. simdjson then
  refuses any text that is not one valid JSON value, so a number can only sit in
  a leaf slot (``[1[2]]`` is not JSON), and each leaf slot holds one number at most
  (``[1 2]`` is not JSON); the count of numbers must fill the shape (``[[]]``).
* **Numbers.** simdjson parses a number to the nearest double, as orjson (the
  general path's parser) does, so every value is what the general path would have
  seen, bit for bit. The dtype is the one numpy infers over the parsed lists:
  int64 when no token has a ``.``, ``e`` or ``E`` (an integer past int64 among
  them is left to the general path); otherwise float64, numpy's inference for a
  float beside integers of any size up to 64 bits.

Anything else (strings, ``true``, ``null``, ``NaN``, objects, ragged or empty
lists, numbers simdjson refuses, rank above 64) returns None: the caller then
decodes the general way, which owns every error message. Cost: one ``translate``,
one comparison and simdjson's parse, linear in the size.

Thread-safe: each thread parses with its own ``simdjson.Parser`` (a parser keeps
its buffers between documents, ~35% faster than a fresh one for an image batch,
and must not be shared while a document it parsed is alive). Texts above
:data:`REUSE_MAX_BYTES` get a parser of their own, so one huge request does not
leave every thread holding buffers its size.
"""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np
import simdjson

MAX_RANK = 64
"""numpy's limit; deeper arrays are left to the general path (which refuses them)."""

_NOT_SKELETON = b" \t\n\r0123456789.eE+-"
"""JSON whitespace and the characters of JSON numbers: what the skeleton is without."""
_FLOAT_MARKS = (b".", b"e", b"E")
_parsers = threading.local()
REUSE_MAX_BYTES = 4 << 20
"""Texts up to this size are parsed by the thread's kept parser, which then holds up to
~20 MB; larger ones by a parser of their own, freed with it (a 57 MB array left ~290 MB
in a kept parser)."""


def parse_number_array(text: bytes) -> np.ndarray | None:
    """The rectangular array of numbers that ``text`` (one JSON value, whitespace allowed
    around and between tokens) spells, as numpy infers it from the parsed numbers (float64
    or int64), or None when it is anything else or unsure. The array is writable."""
    shape = _regular_shape(text.translate(None, _NOT_SKELETON))
    if shape is None:
        return None
    if any(mark in text for mark in _FLOAT_MARKS):
        values = _flat_numbers(text, "d", np.float64)
    else:
        # Integers alone. One past int64 is refused: numpy infers uint64 or float64 for
        # it depending on its neighbours, which the general path works out.
        values = _flat_numbers(text, "i", np.int64)
    if values is None or values.size != int(np.prod(shape, dtype=np.int64)):
        return None  # refused by simdjson, or a leaf slot left empty ("[[]]")
    return values.reshape(shape)


def _flat_numbers(
    text: bytes, of_type: Literal["d", "i"], dtype: type[np.generic]
) -> np.ndarray | None:
    """Every number of the JSON array ``text`` in document order, as ``dtype`` (a fresh,
    writable array), or None when simdjson refuses the text or a value's type."""
    try:
        document = _parser_for(len(text)).parse(text)
        if not isinstance(document, simdjson.Array):
            return None
        buffer = document.as_buffer(of_type=of_type)
    except (ValueError, TypeError):
        # Not JSON, a number out of range, or a leaf that is not a number.
        return None
    except RuntimeError:
        # An integer past 64 bits; or the parser refused reuse because a document it
        # parsed is still referenced somewhere: the thread takes a fresh parser.
        _parsers.parser = None
        return None
    # The buffer is bytes, so the view is read-only: one copy (~20 µs for an image
    # batch) gives callers the writable array the general path gives them.
    return np.frombuffer(buffer, dtype=dtype).copy()


def _parser_for(size: int) -> simdjson.Parser:
    """The thread's kept parser, or a fresh one for a text above :data:`REUSE_MAX_BYTES`
    (a parser keeps buffers sized to the largest document it parsed: ~5x the text)."""
    if size > REUSE_MAX_BYTES:
        return simdjson.Parser()
    parser: simdjson.Parser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    return parser


def _regular_shape(skeleton: bytes) -> tuple[int, ...] | None:
    """The shape whose regular skeleton (``[[,,],[,,]]`` for [2, 3]) is ``skeleton``, or None.

    The shape is read off the first list at each level (as TensorFlow Serving infers
    it), the skeleton of that shape built by repetition, and the two compared.
    """
    rank = len(skeleton) - len(skeleton.lstrip(b"["))
    if not 0 < rank <= MAX_RANK:
        return None
    shape: list[int] = []
    child = b""  # the skeleton of one element of the level below: a number has none
    for level in range(rank, 0, -1):
        first = level - 1  # the first list of this level opens here
        if level == 1:
            # The outermost list is the whole skeleton (the comparison below checks it):
            # no search for its end, which at this size costs more than the rest together.
            length = len(skeleton)
        else:
            # It ends at its last child followed by "]"; earlier ones are followed by ",".
            end = skeleton.find(child + b"]", first + 1)
            if end < 0:
                return None
            length = end + len(child) + 1 - first
        size, extra = divmod(length - 1, len(child) + 1)
        if extra or size < 1:
            return None
        shape.append(size)
        child = b"[" + b",".join([child] * size) + b"]"
    if child != skeleton:
        return None  # ragged, or lists and numbers mixed at one level
    return tuple(reversed(shape))
