"""The Loader: loads and unloads one servable version through one standard API.

Construction is cheap (it only remembers where the version lives); the heavy
work happens in :meth:`Loader.load`. The manager guarantees that ``load`` and
``unload`` of one loader never run concurrently and that an unloaded loader is
never loaded again.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceEstimate:
    """Resources a version needs: an upper bound that never grows over time.

    ``ram_bytes`` is what the version holds once loaded; ``transient_ram_bytes``
    is extra memory needed only while ``load`` runs.
    """

    ram_bytes: int = 0
    transient_ram_bytes: int = 0

    @property
    def during_load(self) -> int:
        return self.ram_bytes + self.transient_ram_bytes


class Loader(abc.ABC):
    """Loads, exposes and unloads one servable version. Not thread-safe itself:
    the manager serialises calls to one loader."""

    @abc.abstractmethod
    def estimate_resources(self) -> ResourceEstimate:
        """An upper bound of the resources the loaded servable will use."""

    @abc.abstractmethod
    def load(self) -> None:
        """Load the servable; raise (preferably a ServingError) on failure."""

    @abc.abstractmethod
    def unload(self) -> None:
        """Release everything ``load`` acquired."""

    @abc.abstractmethod
    def servable(self) -> Any:
        """The loaded object requests compute with; valid between load and unload."""
