"""Sources emit, per servable name, the versions they aspire to have loaded.

Each call of the aspired-versions callback for a name *replaces* the previous
list for that name: a version left out is to be unloaded, and an empty list
unloads every version of that name.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from tensorserve.core.errors import ServingError
from tensorserve.core.servable_id import ServableId

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class ServableData(Generic[T]):
    """Data for one servable version, or the error that stopped it being made."""

    id: ServableId
    data: T | None = None
    error: ServingError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


AspiredVersionsCallback = Callable[[str, Sequence[ServableData[T]]], None]


class Source(abc.ABC, Generic[T]):
    """Finds servable versions and tells its target which ones to serve."""

    @abc.abstractmethod
    def set_aspired_versions_callback(self, callback: AspiredVersionsCallback[T]) -> None:
        """Connect the target; called once before the source starts emitting."""
