"""The Manager interface clients use to reach loaded servables.

A request holds a :class:`ServableHandle`; while any handle to a version is
open, that version is not unloaded. Handles are cheap: the map of loaded
versions is an immutable snapshot replaced whole on change, so looking one up
takes no lock.
"""

from __future__ import annotations

import abc
from typing import Any

from tensorserve.core.servable_id import ServableId, ServableRequest


class ServableHandle(abc.ABC):
    """A reference to a loaded version that keeps it loaded until closed.

    Use as a context manager; closing twice is harmless.
    """

    @property
    @abc.abstractmethod
    def id(self) -> ServableId: ...

    @property
    @abc.abstractmethod
    def servable(self) -> Any: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> ServableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Manager(abc.ABC):
    """Gives out handles to available servable versions. Thread-safe."""

    @abc.abstractmethod
    def get_servable_handle(self, request: ServableRequest) -> ServableHandle:
        """A handle for the version ``request`` names.

        Raises ``ServableNotFound`` when no available version matches.
        """

    @abc.abstractmethod
    def available_ids(self) -> list[ServableId]:
        """Every version currently in the serving map, sorted."""
