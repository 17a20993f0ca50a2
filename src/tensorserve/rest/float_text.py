"""Float tensors as JSON text, digit for digit as TensorFlow Serving writes them (``WriteDecimal``).

Each value is printed with ``%g`` when those 6 significant digits read back as
the same value (at the tensor's own precision), else with ``%.9g`` (float32) or
``%.17g`` (float64); ``.0`` is appended when the text has neither ``.`` nor
``e``. So float32 ``9000000`` is ``9e+06``, ``3.14159274`` stays ``3.14159274``,
``3`` is ``3.0``, and float64 ``1/3`` is ``0.33333333333333331``. NaN and the
infinities are the bare tokens ``NaN``, ``Infinity`` and ``-Infinity``.

Speed: the choice of format is made for the whole array at once in numpy
(rounding to 6 digits and comparing), and the text is produced by one
``%``-format over a template: built for the array's shape by repetition, with
each value's own spec slotted in by list slicing when not all are the long
format. Python touches values only inside C loops: ~0.15-0.2 µs a value,
mostly C's own formatting.

Pure and thread-safe.
"""

from __future__ import annotations

import math
import struct

import numpy as np

_SHORT_DIGITS = 6  # %g
_LONG_FORMAT = {np.dtype(np.float32): ("%.9g", 9), np.dtype(np.float64): ("%.17g", 17)}
_TOKENS = ("NaN", "Infinity", "-Infinity")
_LONG, _LONG_SUFFIX, _SHORT, _SHORT_SUFFIX, _NAN, _INF, _NEG_INF = range(7)
_SLOT = "\0"  # marks each value's place in a template; JSON text never holds it raw
_SMALL = 64  # up to this many values, one at a time beats numpy's per-call overhead
_FLOAT32 = struct.Struct("f")


def float_json(array: np.ndarray) -> str:
    """The JSON text of a float32 or float64 array of any rank (nested lists, or a scalar)."""
    if array.size == 0:
        return _empty(array.shape)
    if array.size <= _SMALL:
        return _nest(_small(array), array.shape)
    long_format, _digits = _LONG_FORMAT[array.dtype]
    kinds = _value_kinds(array)
    flat = array.ravel()
    if not (kinds != _LONG).any():
        return _uniform_template(array.shape, long_format) % tuple(flat.tolist())
    # One spec per value, placed between the shape's brackets and commas by slicing.
    between = _uniform_template(array.shape, _SLOT).split(_SLOT)
    parts = [""] * (2 * flat.size + 1)
    parts[0::2] = between
    parts[1::2] = np.array(_specs(long_format), dtype=object)[kinds].tolist()
    written = kinds < _NAN  # NaN and the infinities are written as tokens, without a value
    return "".join(parts) % tuple((flat if written.all() else flat[written]).tolist())


def float_json_rows(array: np.ndarray) -> list[str]:
    """The JSON text of each entry along dimension 0 (``array.ndim >= 1``)."""
    return [float_json(row) for row in array]


def _small(array: np.ndarray) -> list[str]:
    """Each value's text, one at a time (the same rule, without numpy's overhead)."""
    single = array.dtype == np.float32
    long_format = "%.9g" if single else "%.17g"
    texts = []
    for value in array.ravel().tolist():
        if not math.isfinite(value):
            texts.append(_TOKENS[0] if value != value else _TOKENS[1 if value > 0 else 2])
            continue
        text = f"{value:g}"
        if _read_back(text, single) != value:
            text = long_format % value
        texts.append(text if "." in text or "e" in text else text + ".0")
    return texts


def _read_back(text: str, single: bool) -> float:
    """``text`` parsed at the tensor's precision (float32 by way of a double, as numpy does)."""
    value = float(text)
    if not single:
        return value
    try:
        return float(_FLOAT32.unpack(_FLOAT32.pack(value))[0])
    except OverflowError:
        return math.inf


def _specs(long_format: str) -> tuple[str, ...]:
    return (long_format, long_format + ".0", "%g", "%g.0", *_TOKENS)


def _value_kinds(array: np.ndarray) -> np.ndarray:
    """Per value (flattened), which of the seven ways it is written (``_LONG``...)."""
    _format, long_digits = _LONG_FORMAT[array.dtype]
    flat = array.ravel()
    with np.errstate(all="ignore"):  # NaN and infinities are sorted out at the end
        values = flat.astype(np.float64)
        magnitude = np.abs(values)
        finite = np.isfinite(values)
        exponent = np.floor(np.log10(np.where(finite & (magnitude > 0), magnitude, 1.0)))
        # log10 can be one off right at a power of ten; put it right.
        exponent += magnitude >= 10.0 ** (exponent + 1)
        exponent -= magnitude < 10.0**exponent
        scale = 10.0 ** (_SHORT_DIGITS - 1 - exponent)
        rounded = np.rint(values * scale) / scale
        short = (rounded.astype(array.dtype) == flat) | (magnitude == 0)
        integral = finite & (np.trunc(values) == values)
    # %g writes an integral value without '.' unless it switches to an exponent.
    short_suffix = integral & (np.abs(rounded) < 10.0**_SHORT_DIGITS)
    long_suffix = integral & (magnitude < 10.0**long_digits)
    kinds = np.where(short, _SHORT + short_suffix, long_suffix.astype(np.intp))
    if not finite.all():
        tokens = np.where(np.isnan(values), _NAN, np.where(values > 0, _INF, _NEG_INF))
        kinds = np.where(finite, kinds, tokens)
    return kinds


def _nest(specs: list[str], shape: tuple[int, ...]) -> str:
    """The specs joined as nested JSON lists of ``shape`` (a bare spec for rank 0)."""
    level = specs
    for size in reversed(shape):
        level = ["[" + ",".join(level[i : i + size]) + "]" for i in range(0, len(level), size)]
    return level[0]


def _uniform_template(shape: tuple[int, ...], spec: str) -> str:
    """``_nest`` of one spec repeated, built by repetition: one join per axis.

    Not cached: clients choose output shapes, and a cache of templates is a
    cache of their sizes."""
    text = spec
    for size in reversed(shape):
        text = "[" + ",".join([text] * size) + "]"
    return text


def _empty(shape: tuple[int, ...]) -> str:
    """Nested empty lists for an array with a zero dimension."""
    if not shape:
        return "[]"
    if shape[0] == 0:
        return "[]"
    inner = _empty(shape[1:])
    return "[" + ",".join([inner] * shape[0]) + "]"
