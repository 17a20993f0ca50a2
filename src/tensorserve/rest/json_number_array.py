"""The bytes of one rectangular JSON array of numbers to a numpy array, with no Python lists.

An image batch arrives as ``[[[[0.1,0.2,...]]]]``: tens of thousands of numbers
in tens of thousands of one-element lists. Parsing it into Python lists and
letting numpy discover the nesting costs far more than the numbers themselves
(each list is a garbage-collected object). Here the structure is checked and
the shape found with vectorised numpy over the bytes, and the numbers alone are
parsed, by orjson, from the same text with the brackets blanked out: one flat
list of floats and ints (objects the collector does not track), which numpy
turns into an array in one C loop.

* **Structure.** Depth is the running sum of ``[`` (+1) and ``]`` (-1); the array
  ends where it first returns to 0. Every number must sit at the deepest level,
  neighbouring tokens must be legal (no ``[,``, ``,]``, ``,,``, ``][``, ``]1`` or
  ``1[``), no list may be empty, and all lists of one depth must hold the same
  number of elements (commas counted per list). Together with orjson's own
  checks of the flattened text, that is the JSON grammar of a nested array.
* **Numbers.** orjson parses the tokens as it parses them inside a whole body,
  so every value is what the general path would have seen, bit for bit; numpy's
  inference over the flat list gives the dtype it gives over the nested one.

Anything else (strings, ``true``, ``null``, ``NaN``, objects, ragged or empty
lists, numbers orjson refuses, rank above 64) returns None: the caller then
decodes the general way, which owns every error message. Cost: a few numpy
passes over the bytes plus orjson's number parsing, linear in the size.

Pure and thread-safe.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson

MAX_RANK = 64
"""numpy's limit; deeper arrays are left to the general path (which refuses them)."""

_OPEN, _CLOSE, _COMMA = ord("["), ord("]"), ord(",")
_WHITESPACE = b" \t\n\r"
_STRUCTURE = b"[],"
_ALLOWED = b"0123456789.eE+-" + _STRUCTURE
_BLANK_BRACKETS = bytes.maketrans(b"[]", b"  ")


@dataclasses.dataclass(frozen=True, slots=True)
class NumberArray:
    """A parsed array: ``values`` as numpy inferred them (shaped), and where the text ended."""

    values: np.ndarray
    end: int
    """Index in the body just past the closing ``]``."""


def parse_number_array(body: bytes, start: int) -> NumberArray | None:
    """The rectangular array of numbers whose ``[`` is ``body[start]``, or None when unsure."""
    end = _matching_end(body, start)
    if end is None:
        return None
    text = body[start:end]
    compact = text.translate(None, _WHITESPACE)
    if compact.translate(None, _ALLOWED):
        return None  # a string, literal, object or other character: not ours
    shape = _regular_shape(np.frombuffer(compact + b"]", dtype=np.uint8))
    if shape is None:
        return None
    try:
        # Whitespace is kept, so "1 2" still fails as a missing comma.
        numbers = orjson.loads(b"[" + text.translate(_BLANK_BRACKETS) + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(numbers) != int(np.prod(shape, dtype=np.int64)):
        return None  # a list missing a comma between two lists ("[[1][2],[3]]") ends here
    try:
        values = np.asarray(numbers)
    except (ValueError, TypeError, OverflowError):
        return None
    return NumberArray(values.reshape(shape), end)


def _matching_end(body: bytes, start: int) -> int | None:
    """Index just past the ``]`` that closes the ``[`` at ``start`` (brackets counted
    blindly: a string in between is caught later by the alphabet check)."""
    data = np.frombuffer(body, dtype=np.uint8)[start:]
    if not len(data) or data[0] != _OPEN:
        return None
    brackets = np.flatnonzero((data == _OPEN) | (data == _CLOSE))
    depth = np.cumsum(np.where(data[brackets] == _OPEN, 1, -1), dtype=np.int64)
    closed = depth == 0
    first = int(np.argmax(closed))
    if not closed[first]:
        return None  # never closes
    return start + int(brackets[first]) + 1


def _regular_shape(text: np.ndarray) -> tuple[int, ...] | None:
    """The shape if ``text`` (one balanced array of ``[],`` and number characters, no
    whitespace, then one padding ``]``) is a rectangular nest of numbers with no empty
    list, else None."""
    body = text[:-1]
    tokens = np.flatnonzero((body == _OPEN) | (body == _CLOSE) | (body == _COMMA))
    kinds = text[tokens]
    is_open, is_close = kinds == _OPEN, kinds == _CLOSE
    depth = np.cumsum(is_open.astype(np.int64) - is_close)
    # After "[" at depth d the depth is d; a comma keeps the depth of its list.
    rank = int(depth.max())
    if rank > MAX_RANK:
        return None
    after = text[tokens + 1]
    before_open = text[np.maximum(tokens[is_open] - 1, 0)]  # the first "[" sees itself
    number_after = _is_number(after)
    opens_or_commas = ~is_close
    # Legal neighbours: "[" and "," are followed by "[" or a number, "]" by "," or "]" (or
    # the end, padded as "]"), and "[" is preceded by "[" or ","; so no "[,", ",]", ",,",
    # "[]", "][", "]1" or "1[". A number follows exactly the "[" and "," of the deepest level.
    # The rules overlap (and orjson and the count of numbers check again): cheap, and no
    # single slip lets a malformed array through.
    if (
        (opens_or_commas & ((after == _CLOSE) | (after == _COMMA))).any()
        | (is_close & ((after == _OPEN) | number_after)).any()
        | _is_number(before_open).any()
        | (opens_or_commas & (number_after != (depth == rank))).any()
    ):
        return None
    shape = []
    for level in range(1, rank + 1):
        at_level = depth == level
        lists = tokens[is_open & at_level]
        separators = tokens[(kinds == _COMMA) & at_level]
        # A comma belongs to the nearest list opened at its depth before it.
        per_list = np.bincount(np.searchsorted(lists, separators) - 1, minlength=len(lists))
        if per_list.min() != per_list.max():
            return None  # ragged
        shape.append(int(per_list[0]) + 1)
    return tuple(shape)


def _is_number(chars: np.ndarray) -> np.ndarray:
    """Per character (of the alphabet left after the checks): a number's character?"""
    return (chars != _OPEN) & (chars != _CLOSE) & (chars != _COMMA)
