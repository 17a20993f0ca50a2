"""Which V2 REST API a ``/v2`` request names (OIP spec §3.1, §7.1).

Routes follow Triton's: a version segment is digits only (anything else does
not match, so 404), model names are percent-decoded (``tritonclient`` quotes
them), paths are case-sensitive. An unknown path is :class:`RouteNotFound`
(404 ``{"error": "Not Found"}``) and a known path with the wrong method is
:class:`MethodNotAllowed` (405), both JSON like every ``/v2`` answer.

Pure and thread-safe.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from typing import NamedTuple

from tensorserve.core.errors import InvalidArgument, NotFound


class V2Api(enum.Enum):
    """A V2 REST API; the value is the metrics ``API`` label."""

    SERVER_METADATA = "ServerMetadata"
    SERVER_LIVE = "ServerLive"
    SERVER_READY = "ServerReady"
    MODEL_METADATA = "ModelMetadata"
    MODEL_READY = "ModelReady"
    INFER = "ModelInfer"
    INFER_STREAM = "ModelStreamInfer"
    REPOSITORY_INDEX = "RepositoryIndex"
    REPOSITORY_LOAD = "RepositoryModelLoad"
    REPOSITORY_UNLOAD = "RepositoryModelUnload"


class V2Route(NamedTuple):
    api: V2Api
    model_name: str = ""
    version: int | None = None


class RouteNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Not Found")


class MethodNotAllowed(InvalidArgument):
    """A known path asked with the wrong method; answered with HTTP 405."""

    def __init__(self, allowed: str) -> None:
        super().__init__("Method Not Allowed")
        self.allowed = allowed


_FIXED = {
    "/v2": ("GET", V2Api.SERVER_METADATA),
    "/v2/health/live": ("GET", V2Api.SERVER_LIVE),
    "/v2/health/ready": ("GET", V2Api.SERVER_READY),
    "/v2/repository/index": ("POST", V2Api.REPOSITORY_INDEX),
}
_MODEL = re.compile(
    r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(?:/(infer|ready|infer_stream|generate_stream))?"
)
_MODEL_APIS = {
    None: ("GET", V2Api.MODEL_METADATA),
    "ready": ("GET", V2Api.MODEL_READY),
    "infer": ("POST", V2Api.INFER),
    "infer_stream": ("POST", V2Api.INFER_STREAM),
    "generate_stream": ("POST", V2Api.INFER_STREAM),  # MLServer's and Triton's name
}
_REPOSITORY = re.compile(r"/v2/repository/models/([^/]+)/(load|unload)")
_REPOSITORY_APIS = {"load": V2Api.REPOSITORY_LOAD, "unload": V2Api.REPOSITORY_UNLOAD}
_INT64_MAX = 2**63 - 1


def is_v2_path(path: str) -> bool:
    """Whether ``path`` belongs to the V2 API (``/v2`` or below it)."""
    return path == "/v2" or path.startswith("/v2/")


def match_v2_route(method: str, path: str) -> V2Route:
    """The route for ``method`` and the raw (still percent-encoded) ``path``."""
    fixed = _FIXED.get(path)
    if fixed is not None:
        return _checked(method, fixed[0], V2Route(fixed[1]))
    match = _MODEL.fullmatch(path)
    if match is not None:
        name, version, verb = match.groups()
        allowed, api = _MODEL_APIS[verb]
        return _checked(method, allowed, V2Route(api, _decode(name), _version(version)))
    match = _REPOSITORY.fullmatch(path)
    if match is not None:
        name, verb = match.groups()
        return _checked(method, "POST", V2Route(_REPOSITORY_APIS[verb], _decode(name)))
    raise RouteNotFound()


def _checked(method: str, allowed: str, route: V2Route) -> V2Route:
    if method != allowed:
        raise MethodNotAllowed(allowed)
    return route


def _decode(name: str) -> str:
    return urllib.parse.unquote(name, errors="replace")


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    version = int(text)
    if version > _INT64_MAX:  # no such version can exist
        raise RouteNotFound()
    return version
