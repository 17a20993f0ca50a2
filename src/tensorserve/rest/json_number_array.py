"""The bytes of one rectangular JSON array of numbers to a numpy array, with no Python lists.

An image batch arrives as ``[[[[0.1,0.2,...]]]]``: tens of thousands of numbers
in tens of thousands of one-element lists. Parsing it into Python lists and
letting numpy discover the nesting costs far more than the numbers themselves
(each list is a garbage-collected object). Here the structure is checked with
a few C-speed passes of ``bytes`` methods (``translate``, ``find``, one
comparison), and the numbers alone are parsed, by orjson, from the same text
with the brackets blanked out: one flat list of floats and ints (objects the
collector does not track), which numpy turns into an array in one C loop.

* **Structure.** With whitespace removed and each number's characters marked
  ``n``, no number may touch a bracket from outside (``n[``, ``]n``; one
  vectorised numpy comparison). With the
  numbers removed, what is left (the *skeleton*: brackets and commas) must be
  exactly the skeleton of a regular array of the shape read off its first
  element at each level, which is built by repetition and compared in one go.
  Then numbers can only sit in leaf slots, and orjson, reading the flattened
  text, requires exactly one valid number between neighbouring commas: so
  every leaf slot holds one number, and the count of numbers must fill the shape.
* **Numbers.** orjson parses the tokens as it parses them inside a whole body,
  so every value is what the general path would have seen, bit for bit; numpy's
  inference over the flat list gives the dtype it gives over the nested one.

Anything else (strings, ``true``, ``null``, ``NaN``, objects, ragged or empty
lists, numbers orjson refuses, rank above 64) returns None: the caller then
decodes the general way, which owns every error message. Cost: a few passes
over the bytes plus orjson's number parsing, linear in the size.

Pure and thread-safe.
"""

from __future__ import annotations

import numpy as np
import orjson

MAX_RANK = 64
"""numpy's limit; deeper arrays are left to the general path (which refuses them)."""

_WHITESPACE = b" \t\n\r"
_NUMBER_CHARS = b"0123456789.eE+-"
_ALLOWED = _NUMBER_CHARS + b"[],"
_MARK_NUMBERS = bytes.maketrans(_NUMBER_CHARS, b"n" * len(_NUMBER_CHARS))
_BLANK_BRACKETS = bytes.maketrans(b"[]", b"  ")


def parse_number_array(text: bytes) -> np.ndarray | None:
    """The rectangular array of numbers that ``text`` (one JSON value, whitespace allowed
    around and between tokens) spells, as numpy infers it from the parsed numbers (float64,
    int64, ...), or None when it is anything else or unsure."""
    compact = text.translate(None, _WHITESPACE)
    if not compact.startswith(b"[") or compact.translate(None, _ALLOWED):
        return None  # not an array, or a string, literal, object or other character
    marked = compact.translate(_MARK_NUMBERS)
    if _number_touches_bracket(marked):
        return None  # a number outside a leaf slot
    shape = _regular_shape(marked.translate(None, b"n"))
    if shape is None:
        return None
    try:
        # Whitespace is kept, so "1 2" still fails as a missing comma.
        numbers = orjson.loads(b"[" + text.translate(_BLANK_BRACKETS) + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(numbers) != int(np.prod(shape, dtype=np.int64)):
        return None  # a leaf slot left empty ("[[]]")
    if compact.count(b".") == len(numbers):
        # Every token has a ".", so orjson made every one a float: numpy would infer
        # float64, which it fills faster when told.
        values = np.fromiter(numbers, dtype=np.float64, count=len(numbers))
    else:
        try:
            values = np.asarray(numbers)
        except (ValueError, TypeError, OverflowError):
            return None
    return values.reshape(shape)


def _number_touches_bracket(marked: bytes) -> bool:
    """Whether a number (``n``) directly follows a ``]`` or precedes a ``[``."""
    chars = np.frombuffer(marked, dtype=np.uint8)
    number = chars == ord("n")
    return bool(
        (number[:-1] & (chars[1:] == ord("["))).any()
        or ((chars[:-1] == ord("]")) & number[1:]).any()
    )


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
        # It ends at its last child followed by "]"; earlier children are followed by ",".
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
