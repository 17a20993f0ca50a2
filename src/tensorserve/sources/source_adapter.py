"""Source adapters: turn a stream of ``ServableData[T]`` into ``ServableData[U]``.

In the model server the chain is
``FileSystemStoragePathSource -> PlatformRouter -> manager``: the router picks
the per-platform function that turns a version path into a Loader. A model
with no route gets TensorFlow Serving's INTERNAL ``No platform found for
model`` error per version; a model routed to a platform with no loader gets
INVALID_ARGUMENT ``Model <name> requests unsupported platform <platform>``
per version. The manager reports those versions as END with the error, and
the other models are served: one bad model never takes the config down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from tensorserve.core.errors import Internal, InvalidArgument, ServingError, as_serving_error
from tensorserve.core.loader import Loader
from tensorserve.core.servable_id import ServableId
from tensorserve.core.source import AspiredVersionsCallback, ServableData, Source

T = TypeVar("T")
U = TypeVar("U")

PathToLoader = Callable[[ServableId, str], Loader]
"""A platform's conversion of one version path into a (not yet loaded) Loader."""

NO_PLATFORM_MESSAGE = "No platform found for model"


def adapt_servable_data(
    convert: Callable[[ServableId, T], U], data: ServableData[T]
) -> ServableData[U]:
    """Convert one item; an incoming error passes through, a raised one becomes the item's."""
    if data.error is not None:
        return ServableData(data.id, None, data.error)
    try:
        return ServableData(data.id, convert(data.id, data.data))  # type: ignore[arg-type]
    except Exception as exc:
        return ServableData(data.id, None, as_serving_error(exc))


class _Forwarder(Generic[U]):
    """Holds the downstream callback; keeps the newest list per name until one is set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callback: AspiredVersionsCallback[U] | None = None
        self._pending: dict[str, list[ServableData[U]]] = {}

    def set_callback(self, callback: AspiredVersionsCallback[U]) -> None:
        with self._lock:
            self._callback = callback
            pending, self._pending = self._pending, {}
        for name, versions in pending.items():
            callback(name, versions)

    def forward(self, name: str, versions: list[ServableData[U]]) -> None:
        with self._lock:
            callback = self._callback
            if callback is None:
                self._pending[name] = versions
                return
        callback(name, versions)


class SourceAdapter(Source[U], Generic[T, U]):
    """A target for ``Source[T]`` and a ``Source[U]`` at once. Thread-safe.

    Connect upstream with ``upstream.set_aspired_versions_callback(adapter.on_aspired_versions)``.
    Lists that arrive before a downstream callback is set are held (newest per
    name) and delivered when it is set, so wiring order does not matter.
    """

    def __init__(self, convert: Callable[[ServableId, T], U]) -> None:
        self._convert = convert
        self._forwarder: _Forwarder[U] = _Forwarder()

    def set_aspired_versions_callback(self, callback: AspiredVersionsCallback[U]) -> None:
        self._forwarder.set_callback(callback)

    def on_aspired_versions(self, name: str, versions: Sequence[ServableData[T]]) -> None:
        """The upstream callback: convert every version and forward the list."""
        self._forwarder.forward(name, [adapt_servable_data(self._convert, v) for v in versions])


class PlatformRouter(Source[Loader]):
    """Routes each model's version paths to its platform's loader factory. Thread-safe.

    ``routes`` maps model name to platform name (from the model config);
    update it on config reload with :meth:`update_routes`. A model with no
    route gets ``Internal("No platform found for model")`` for each version,
    one whose platform has no factory ``InvalidArgument("Model m requests
    unsupported platform p")``.
    """

    def __init__(
        self,
        platforms: Mapping[str, PathToLoader],
        routes: Mapping[str, str] | None = None,
    ) -> None:
        self._platforms = dict(platforms)
        self._lock = threading.Lock()
        self._routes: dict[str, str] = dict(routes or {})
        self._forwarder: _Forwarder[Loader] = _Forwarder()

    @property
    def platforms(self) -> frozenset[str]:
        return frozenset(self._platforms)

    def update_routes(self, routes: Mapping[str, str]) -> None:
        """Replace the model-name -> platform map."""
        with self._lock:
            self._routes = dict(routes)

    def routes(self) -> dict[str, str]:
        with self._lock:
            return dict(self._routes)

    def set_aspired_versions_callback(self, callback: AspiredVersionsCallback[Loader]) -> None:
        self._forwarder.set_callback(callback)

    def on_aspired_versions(self, name: str, versions: Sequence[ServableData[str]]) -> None:
        """The upstream callback (from the file-system source)."""
        with self._lock:
            platform = self._routes.get(name)
        convert = self._platforms.get(platform) if platform is not None else None
        if convert is None:
            error = _no_platform_error(name, platform)
            failed: list[ServableData[Loader]] = [
                ServableData(v.id, None, v.error or error) for v in versions
            ]
            self._forwarder.forward(name, failed)
            return
        self._forwarder.forward(name, [adapt_servable_data(convert, v) for v in versions])


def _no_platform_error(name: str, platform: str | None) -> ServingError:
    if platform is None:
        return Internal(NO_PLATFORM_MESSAGE)
    return InvalidArgument(f"Model {name} requests unsupported platform {platform}")
