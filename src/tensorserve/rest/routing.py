"""Which TensorFlow Serving REST API a ``/v1`` request names (``HttpRestApiHandler``).

Paths match case-insensitively, as TensorFlow Serving's ``(?i)`` regexes do,
but the verb after ``:`` and the ``metadata`` suffix are then compared
case-sensitively, so ``:PREDICT`` is malformed and ``/METADATA`` asks for
status. Model names and labels are percent-decoded; a version must fit int64.
TensorFlow Serving reports those two failures before it builds its JSON error,
so its 400 has an empty body; tensorserve sends the same message as JSON
(:class:`UndecodablePath`).

Pure and thread-safe.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from typing import NamedTuple

from tensorserve.core.errors import InvalidArgument

_POST = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/([0-9]+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_GET = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/([0-9]+)|/labels/([^/:]+))?(?:/(metadata))?",
    re.IGNORECASE,
)
_V1 = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_INT64_MAX = 2**63 - 1


class Api(enum.Enum):
    """A REST API; the value is the name reported to the request observer."""

    PREDICT = "predict"
    CLASSIFY = "classify"
    REGRESS = "regress"
    STATUS = "GetModelStatus"
    METADATA = "GetModelMetadata"


class Route(NamedTuple):
    """A matched request: the API and the model it names (name "" when none was given)."""

    api: Api
    model_name: str
    version: int | None = None
    label: str | None = None


_VERBS = {"predict": Api.PREDICT, "classify": Api.CLASSIFY, "regress": Api.REGRESS}


class UndecodablePath(InvalidArgument):
    """A model name, label or version in the path that cannot be decoded (400)."""


def is_v1_path(path: str) -> bool:
    """Whether TensorFlow Serving's REST handler owns ``path`` (``(?i)/v1/.*``)."""
    return _V1.fullmatch(path) is not None


def match_route(method: str, path: str) -> Route:
    """The route for ``method`` and the raw (still percent-encoded) ``path``.

    Raises ``InvalidArgument`` ``Malformed request: <METHOD> <path>`` when
    nothing matches, and :class:`UndecodablePath` for a bad version or escape.
    """
    if method == "POST":
        match = _POST.fullmatch(path)
        if match is not None:
            name, version, label, verb = match.groups()
            route = _route(_VERBS.get(verb), name, version, label)
            if route is not None:
                return route
    elif method == "GET":
        match = _GET.fullmatch(path)
        if match is not None:
            name, version, label, subresource = match.groups()
            api = Api.METADATA if subresource == "metadata" else Api.STATUS
            route = _route(api, name or "", version, label)
            if route is not None:
                return route
    raise InvalidArgument(f"Malformed request: {method} {path}")


def _route(api: Api | None, name: str, version: str | None, label: str | None) -> Route | None:
    """The route (None for an unknown verb), once the version and escapes are checked."""
    parsed_version = None
    if version is not None:
        # Leading zeros are harmless (as for absl::SimpleAtoi); past 19 digits no int64 fits,
        # and int() of thousands of digits would hit Python's conversion limit.
        digits = version.lstrip("0")
        if len(digits) > len(str(_INT64_MAX)) or int(digits or "0") > _INT64_MAX:
            raise UndecodablePath(f"Failed to convert version: {version} to numeric.")
        parsed_version = int(digits or "0")
    decoded_name = _percent_decode(name)
    if decoded_name is None:
        raise UndecodablePath(f"Failed to decode model name: {name}")
    decoded_label = None
    if label is not None:
        decoded_label = _percent_decode(label)
        if decoded_label is None:
            raise UndecodablePath(f"Failed to decode model version label: {label}")
    return None if api is None else Route(api, decoded_name, parsed_version, decoded_label)


def _percent_decode(text: str) -> str | None:
    """``text`` (raw path bytes as latin-1) percent-decoded as UTF-8; None if it cannot be."""
    if "%" not in text and text.isascii():
        return text
    if _BAD_ESCAPE.search(text):
        return None
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raw = text.encode("utf-8")
    try:
        return urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
