"""A JSON decoder with an explicit stack, for documents nested deeper than recursion allows.

rapidjson, which TensorFlow Serving parses with, is iterative: a body with an
unknown key nested 500,000 levels deep is parsed, and the key is ignored. orjson
stops at 1,024 levels and the standard library's scanner at the interpreter's
recursion limit, so :func:`decode_iteratively` takes over when they give up.
It accepts what ``json.JSONDecoder`` accepts (the ``NaN``, ``Infinity`` and
``-Infinity`` tokens included) and raises ``json.JSONDecodeError`` with the
standard library's messages, so one translation to rapidjson's text serves
both; a missing comma says which container it was in (:class:`MissingComma`).
Unlike rapidjson it stops at :data:`MAX_DEPTH` levels (:class:`TooDeep`).

Strings and numbers are scanned by the standard library's C helpers; only the
structure is walked in Python, so the cost is about a microsecond per token.
Pure and thread-safe.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_CONSTANTS: dict[str, Any] = {
    "null": None,
    "true": True,
    "false": False,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}

MAX_DEPTH = 1_000_000
"""Deeper documents are refused: each level costs ~70 bytes of Python objects per byte
of input, so an unbounded stack would let a 256 MiB body of ``[`` take 18 GB."""

NumberParser = Callable[[str, int], Any]
"""Turns a number token (and its offset, for errors) into its value."""


class TooDeep(json.JSONDecodeError):
    """Nesting beyond :data:`MAX_DEPTH`."""

    def __init__(self, doc: str, pos: int) -> None:
        super().__init__(f"Nesting deeper than {MAX_DEPTH} levels", doc, pos)


class MissingComma(json.JSONDecodeError):
    """No ``,`` after a member or element; ``closer`` is the ``}`` or ``]`` also allowed there."""

    def __init__(self, closer: str, doc: str, pos: int) -> None:
        super().__init__("Expecting ',' delimiter", doc, pos)
        self.closer = closer


def decode_iteratively(text: str, start: int, parse_number: NumberParser) -> tuple[Any, int]:
    """The JSON value at ``text[start:]`` and the index just past it (later text ignored)."""
    containers: list[Any] = []  # open lists and dicts, innermost last
    keys: list[str | None] = []  # the pending key of each open dict (None for a list)
    pos = start
    while True:
        value, pos, opened = _value_or_open(text, pos, parse_number)
        if opened is not None:
            if len(containers) >= MAX_DEPTH:
                raise TooDeep(text, pos)
            container, key, pos = opened
            containers.append(container)
            keys.append(key)
            continue
        while containers:  # attach the value, then close every container that ends here
            parent, key = containers[-1], keys[-1]
            if key is None:
                parent.append(value)
            else:
                parent[key] = value
            pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
            closer = "]" if key is None else "}"
            char = text[pos : pos + 1]
            if char == ",":
                if key is not None:
                    keys[-1], pos = _key(text, pos + 1)
                else:
                    pos += 1
                break
            if char != closer:
                raise MissingComma(closer, text, pos)
            pos += 1
            value = containers.pop()
            keys.pop()
        else:
            return value, pos


def _value_or_open(
    text: str, pos: int, parse_number: NumberParser
) -> tuple[Any, int, tuple[Any, str | None, int] | None]:
    """A complete scalar or empty container, or (container, first key, pos) for one to fill."""
    pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
    char = text[pos : pos + 1]
    if char == '"':
        string, end = scanstring(text, pos + 1)
        return string, end, None
    if char == "{":
        inner = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text[inner : inner + 1] == "}":
            return {}, inner + 1, None
        key, after_key = _key(text, pos + 1)
        return None, after_key, ({}, key, after_key)
    if char == "[":
        inner = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text[inner : inner + 1] == "]":
            return [], inner + 1, None
        return None, pos + 1, ([], None, pos + 1)
    for token, constant in _CONSTANTS.items():
        if text.startswith(token, pos):
            return constant, pos + len(token), None
    number = _NUMBER.match(text, pos)
    if number is None:
        raise json.JSONDecodeError("Expecting value", text, pos)
    return parse_number(number.group(), pos), number.end(), None


def _key(text: str, pos: int) -> tuple[str, int]:
    """A member name and its colon; returns the index after the colon."""
    pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, pos = scanstring(text, pos + 1)
    pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
    return key, pos + 1
