"""Parsing request bodies as TensorFlow Serving's rapidjson does, and quoting values in errors.

TensorFlow Serving parses with rapidjson and the ``kParseNanAndInfFlag``: the
bare tokens ``NaN``, ``Infinity`` and ``-Infinity`` are accepted, and anything
after the first complete value is ignored. orjson is strict and fast, so it
parses every well-formed body; only when it refuses one does the standard
library's tolerant decoder run, and its error is translated to rapidjson's text.
That decoder recurses, so a document nested deeper than it allows is decoded
again by :mod:`tensorserve.rest.iterative_json`: nesting up to a million levels
parses, as it does in TensorFlow Serving (which has no limit but memory). As
rapidjson does, the fallback refuses a number beyond the range of a double and
an escaped lone UTF-16 surrogate (``"\\ud800"``) with a parse error.

Error messages quote values the way ``JsonValueToString`` does: rapidjson's
pretty style (objects on several lines, arrays on one), cut after 256 bytes.

Every function here is pure and thread-safe.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import orjson

from tensorserve.core.errors import InvalidArgument
from tensorserve.rest.iterative_json import MissingComma, TooDeep, decode_iteratively

SNIPPET_LIMIT_BYTES = 256
"""Quoted values in error messages are cut after this many bytes, as TensorFlow Serving does."""

_STDLIB_TO_RAPIDJSON = {
    "Expecting value": "Invalid value.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
    "Invalid control character at": "Invalid encoding in string.",
}
_TOO_BIG = "Number too big to be stored in double."
_BAD_SURROGATE = "The surrogate pair in string is invalid."
# An escaped backslash (skipped, so "\\\\ud800" is not an escape) or an escaped surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\\\|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_MAX_FINITE_DIGITS = 309  # a longer integer token overflows a double


def parse_json(body: bytes) -> Any:
    """The first JSON value in ``body``; raises ``InvalidArgument`` with rapidjson's message."""
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    text = body.decode("utf-8", errors="surrogateescape")
    start = len(text) - len(text.lstrip(" \t\n\r"))
    if start == len(text):
        raise _parse_error("The document is empty.", text, len(text))
    try:
        value, end = _decode(text, start)
    except json.JSONDecodeError as exc:
        _check_surrogates(text, start, exc.pos)
        raise _translate(exc, text) from None
    except _NumberTooBig as exc:
        _check_surrogates(text, start, exc.pos)
        raise _parse_error(_TOO_BIG, text, exc.pos) from None
    _check_surrogates(text, start, end)
    return value


class _NumberTooBig(Exception):
    """A number token beyond the range of a double, at ``pos`` (-1 until known)."""

    def __init__(self, token: str, pos: int = -1) -> None:
        super().__init__(token)
        self.token = token
        self.pos = pos


def _decode(text: str, start: int) -> tuple[Any, int]:
    """The standard library's (recursive, C) decoder; the iterative one when too deep."""
    decoder = json.JSONDecoder(parse_int=_int, parse_float=_float)
    try:
        return decoder.raw_decode(text, start)  # type: ignore[no-any-return]
    except _NumberTooBig as exc:
        # The scanner does not say where; the first occurrence of the token is a close guess.
        exc.pos = max(text.find(exc.token, start), start)
        raise
    except RecursionError:
        pass
    return decode_iteratively(text, start, _number)


def _int(token: str) -> int:
    if len(token) > _MAX_FINITE_DIGITS and math.isinf(float(token)):
        raise _NumberTooBig(token)  # also keeps int() below Python's 4,300-digit limit
    return int(token)


def _float(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise _NumberTooBig(token)
    return value


def _number(token: str, pos: int) -> int | float:
    try:
        return _float(token) if any(c in token for c in ".eE") else _int(token)
    except _NumberTooBig as exc:
        exc.pos = pos
        raise


def _check_surrogates(text: str, start: int, end: int) -> None:
    """Raise rapidjson's error for the first unpaired surrogate escape before ``end``."""
    if text.find("\\u", start, end) < 0:
        return
    high: re.Match[str] | None = None
    for match in _SURROGATE_ESCAPE.finditer(text, start, end):
        token = match.group()
        if high is not None:
            if match.start() == high.end() and len(token) == 6 and token[3] in "cdefCDEF":
                high = None
                continue
            break
        if token == "\\\\":
            continue
        if token[3] in "89abAB":
            high = match
            continue
        raise _parse_error(_BAD_SURROGATE, text, match.start())
    if high is not None:
        raise _parse_error(_BAD_SURROGATE, text, high.start())


def parse_request_object(body: bytes) -> tuple[dict[str, Any], str]:
    """The request object and its ``signature_name`` ("" when absent).

    Checked in TensorFlow Serving's order: parse, object, string ``signature_name``.
    """
    document = parse_json(body)
    if not isinstance(document, dict):
        raise InvalidArgument(f"JSON Value: {json_snippet(document)} Is not object")
    signature_name = document.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise InvalidArgument(
            f"JSON Value: {json_snippet(document)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return document, signature_name


def _translate(exc: json.JSONDecodeError, text: str) -> InvalidArgument:
    if isinstance(exc, TooDeep):
        return _parse_error(exc.msg + ".", text, exc.pos)
    if exc.msg == "Expecting ',' delimiter":
        if isinstance(exc, MissingComma):
            closer = exc.closer
        else:
            closer = "}" if _innermost_container(text, exc.pos) == "{" else "]"
        kind = "an object member" if closer == "}" else "an array element"
        return _parse_error(f"Missing a comma or '{closer}' after {kind}.", text, exc.pos)
    if exc.msg.startswith("Unterminated string"):
        return _parse_error("Missing a closing quotation mark in string.", text, len(text))
    message = _STDLIB_TO_RAPIDJSON.get(exc.msg, "Invalid value.")
    return _parse_error(message, text, exc.pos)


def _parse_error(message: str, text: str, char_offset: int) -> InvalidArgument:
    byte_offset = len(text[:char_offset].encode("utf-8", errors="surrogateescape"))
    return InvalidArgument(f"JSON Parse error: {message} at offset: {byte_offset}")


def _innermost_container(text: str, end: int) -> str:
    """``{`` or ``[``: the container open at ``end`` (strings skipped). Only runs on errors."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text[:end]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else "["


def json_type_name(value: Any) -> str:
    """rapidjson's type name of a parsed value: Null, False, True, Object, Array, String, Number."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def format_decimal(value: float, max_digits: int = 17) -> str:
    """TensorFlow Serving's ``WriteDecimal`` text: ``%g`` if it round-trips, else full precision,
    with ``.0`` added to whole numbers; NaN and infinities as bare tokens."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{value:g}"
    if float(text) != value:
        text = f"{value:.{max_digits}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def json_snippet(value: Any) -> str:
    """``value`` as TensorFlow Serving quotes it in error messages (pretty, cut at 256 bytes)."""
    if isinstance(value, float):
        return format_decimal(value)
    pieces: list[str] = []
    size = 0
    for piece in _pretty(value, 0):
        pieces.append(piece)
        size += len(piece.encode("utf-8", errors="surrogatepass"))
        if size > SNIPPET_LIMIT_BYTES:
            break
    text = "".join(pieces).encode("utf-8", errors="surrogatepass")
    return text[:SNIPPET_LIMIT_BYTES].decode("utf-8", errors="ignore")


def _pretty(value: Any, depth: int) -> Iterator[str]:
    """rapidjson PrettyWriter with 4-space indent and single-line arrays, piece by piece."""
    if isinstance(value, dict):
        if not value:
            yield "{}"
            return
        yield "{"
        inner = "\n" + "    " * (depth + 1)
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + inner + _string(key) + ": "
            yield from _pretty(item, depth + 1)
        yield "\n" + "    " * depth + "}"
    elif isinstance(value, list):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from _pretty(item, depth + 1)
        yield "]"
    else:
        yield _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return format_decimal(value)
        return repr(value)
    return str(value)


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
